"""Anderson–Darling normality test with Minitab's p-value.

The statistic is scipy's (``scipy.stats.anderson``: mean and sample SD estimated from the
data). The p-value follows D'Agostino & Stephens (1986, table 4.9, case 3), as Minitab
computes it: the adjusted statistic ``AD* = AD (1 + 0.75/n + 2.25/n²)`` and

* ``AD* ≥ 0.6``: ``p = exp(1.2937 − 5.709 AD* + 0.0186 AD*²)``
* ``0.34 ≤ AD* < 0.6``: ``p = exp(0.9177 − 4.279 AD* − 1.38 AD*²)``
* ``0.2 ≤ AD* < 0.34``: ``p = 1 − exp(−8.318 + 42.796 AD* − 59.938 AD*²)``
* ``AD* < 0.2``: ``p = 1 − exp(−13.436 + 101.14 AD* − 223.73 AD*²)``

(clipped to [0, 1]; far in the tail the first branch would otherwise rise again).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats

__all__ = ["Normality", "ad_p_value", "anderson_darling"]


@dataclass(frozen=True, slots=True)
class Normality:
    """The test's result: the statistic, the adjusted statistic and the p-value."""

    n: int
    statistic: float
    adjusted: float
    p_value: float


def ad_p_value(statistic: float, n: int) -> tuple[float, float]:
    """The adjusted statistic AD* and the p-value of an AD statistic from ``n`` values.

    >>> adjusted, p = ad_p_value(0.5, 100)
    >>> round(adjusted, 6), round(p, 6)
    (0.503862, 0.204195)
    """
    if n < 3:
        raise ValueError(f"the Anderson-Darling test needs at least 3 values, got {n}")
    a = statistic * (1 + 0.75 / n + 2.25 / n**2)
    if a >= 13:  # exp() of the first branch has its minimum near 153; p is 0 long before
        return a, 0.0
    if a >= 0.6:
        p = math.exp(1.2937 - 5.709 * a + 0.0186 * a * a)
    elif a >= 0.34:
        p = math.exp(0.9177 - 4.279 * a - 1.38 * a * a)
    elif a >= 0.2:
        p = 1 - math.exp(-8.318 + 42.796 * a - 59.938 * a * a)
    else:
        p = 1 - math.exp(-13.436 + 101.14 * a - 223.73 * a * a)
    return a, min(1.0, max(0.0, p))


def anderson_darling(values: Sequence[float]) -> Normality:
    """Test ``values`` for normality (at least 3 values, not all equal).

    >>> result = anderson_darling([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0])
    >>> round(result.statistic, 4), round(result.p_value, 4)
    (0.1411, 0.9567)
    """
    n = len(values)
    if n < 3:
        raise ValueError(f"the Anderson-Darling test needs at least 3 values, got {n}")
    if max(values) == min(values):
        raise ValueError("the Anderson-Darling test needs values that are not all equal")
    statistic = float(stats.anderson(list(values), dist="norm", method="interpolate").statistic)
    adjusted, p = ad_p_value(statistic, n)
    return Normality(n, statistic, adjusted, p)
