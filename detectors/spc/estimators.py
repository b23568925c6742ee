"""Estimators of the process sigma, one per method a characteristic may choose.

Subgroup i has n_i values, range R_i and sample SD S_i; m subgroups (those of 2 or more).
The names are qcc's (``std.dev=`` of ``qcc()``, lower case) plus Minitab's:

============== ================================================================
method         estimate
============== ================================================================
``mr``         average moving range (span 2) over d2(2)
``median_mr``  median moving range over 0.954 (Minitab's robust option)
``sd``         (individuals) sample SD of all values over c4(N): qcc's ``"SD"``
``uwave-r``    ``sum(R_i / d2(n_i)) / m``: unweighted mean of the unbiased ranges
               (qcc's ``"UWAVE-R"``, its default for xbar and R charts)
``uwave-sd``   ``sum(S_i / c4(n_i)) / m`` (qcc's ``"UWAVE-SD"``, its S-chart default)
``mvlue-r``    ``sum(f_i R_i / d2(n_i)) / sum(f_i)``, ``f_i = d2(n_i)^2 / d3(n_i)^2``:
               qcc's ``"MVLUE-R"`` and Minitab's R-bar (Burr's weighting); old name ``rbar``
``mvlue-sd``   ``sum(h_i S_i / c4(n_i)) / sum(h_i)``, ``h_i = c4(n_i)^2 / (1 - c4(n_i)^2)``:
               qcc's ``"MVLUE-SD"`` and Minitab's S-bar; old name ``sbar``
``pooled``     ``sqrt(sum((n_i-1) S_i^2) / sum(n_i-1)) / c4(sum(n_i-1)+1)``: Minitab's
               pooled SD with its unbiasing constant
``rmsdf``      the same formula, by qcc's name (``"RMSDF"``); both names give one number
``overall``    sample SD of all values (n-1 denominator, no c4), as used for Pp
============== ================================================================

With equal sizes, ``uwave-r`` and ``mvlue-r`` are both R-bar/d2(n) and ``uwave-sd`` and
``mvlue-sd`` both S-bar/c4(n); they differ only for unequal subgroup sizes.
(The earlier docstring said ``rbar`` was "as Minitab and qcc": it is Minitab's R-bar, but
qcc's *default* is the unweighted ``uwave-r``; the weighted one is qcc's MVLUE-R.)

Overflow: callers pass values within ±1e100 (see :func:`linewatch.detectors.base.finite`),
and on top of that the sums here cannot overflow for any finite floats: :func:`mean_of`
falls back to a scaled sum when :func:`math.fsum` overflows, and :func:`sample_sd` divides
the deviations by a power of two before squaring them when the plain squares would
overflow or underflow (subnormal data).

>>> round(mr_sigma([10.0, 12.0, 11.0, 13.0]), 6)
1.477541
>>> rbar_sigma([0.023], [5]) == 0.023 / 2.326
True
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from linewatch.detectors.base import DetectorInputError
from linewatch.detectors.spc.constants import c4, d2, d3

__all__ = [
    "SUBGROUP_ALIASES",
    "SUBGROUP_METHODS",
    "canonical_method",
    "mean_of",
    "median_mr_sigma",
    "moving_ranges",
    "mr_sigma",
    "overall_sigma",
    "pooled_sigma",
    "rbar_sigma",
    "sample_sd",
    "sbar_sigma",
    "sd_sigma",
    "subgroup_sigma",
    "uwave_r_sigma",
    "uwave_sd_sigma",
]

#: Old names kept working (configs use them): each is the estimator it maps to.
SUBGROUP_ALIASES = {"rbar": "mvlue-r", "sbar": "mvlue-sd"}

SUBGROUP_METHODS = (
    "rbar",
    "sbar",
    "pooled",
    "overall",
    "uwave-r",
    "uwave-sd",
    "mvlue-r",
    "mvlue-sd",
    "rmsdf",
)

MEDIAN_MR_D4 = 0.954  # median of the span-2 moving range of unit normals (Minitab)

_SHRINK = 2.0**-64  # a power of two: scaling by it is exact


def safe_fsum(values: Iterable[float]) -> float:
    """``math.fsum``, but ±inf instead of OverflowError (and NaN for inf - inf).

    >>> safe_fsum([1e308, 1e308]), safe_fsum([1e308, -1e308, 1.0])
    (inf, 1.0)
    """
    items = list(values)
    try:
        return math.fsum(items)
    except OverflowError:
        return math.fsum(v * _SHRINK for v in items) / _SHRINK
    except ValueError:  # inf and -inf among the values
        return math.nan


def mean_of(values: Sequence[float]) -> float:
    """Mean by ``fsum``; finite for any finite values (a scaled sum when fsum overflows).

    >>> mean_of([1.0, 2.0]), mean_of([1e308, 1e308, -1e308])
    (1.5, 3.333333333333333e+307)
    """
    try:
        return math.fsum(values) / len(values)
    except OverflowError:
        return math.fsum(v * _SHRINK for v in values) / len(values) / _SHRINK


def sample_sd(values: Sequence[float], mean: float) -> float:
    """SD about ``mean`` (n-1 denominator), deviations scaled by a power of two first.

    >>> sample_sd([1.0, 3.0], 2.0), sample_sd([-1e308, 1e308], 0.0)
    (1.4142135623730951, 1.4142135623730951e+308)
    """
    deviations = [v - mean for v in values]
    try:  # the plain formula, when its squares neither overflow nor underflow
        squares = math.fsum(d * d for d in deviations)
    except OverflowError:
        squares = math.inf
    if 1e-280 < squares < math.inf:
        return math.sqrt(squares / (len(values) - 1))
    largest = max((abs(d) for d in deviations), default=0.0)
    if largest == 0.0 or not math.isfinite(largest):
        return 0.0 if largest == 0.0 else math.inf
    scale = math.ldexp(1.0, math.frexp(largest)[1] - 1)  # 2^k > largest/2: squares < 4
    return math.sqrt(math.fsum((d / scale) ** 2 for d in deviations) / (len(values) - 1)) * scale


def moving_ranges(values: Sequence[float], keep: Sequence[bool] | None = None) -> list[float]:
    """|x_i - x_{i-1}| for neighbours that are both kept (an excluded value drops both its MRs)."""
    out = []
    for i in range(1, len(values)):
        if keep is None or (keep[i] and keep[i - 1]):
            out.append(abs(values[i] - values[i - 1]))
    return out


def mr_sigma(
    values: Sequence[float], keep: Sequence[bool] | None = None, constants: str = "table"
) -> float:
    mrs = moving_ranges(values, keep)
    if not mrs:
        raise DetectorInputError("sigma from moving ranges needs at least 2 consecutive values")
    return mean_of(mrs) / d2(2, constants)


def median_mr_sigma(values: Sequence[float], keep: Sequence[bool] | None = None) -> float:
    mrs = sorted(moving_ranges(values, keep))
    if not mrs:
        raise DetectorInputError("sigma from moving ranges needs at least 2 consecutive values")
    mid = len(mrs) // 2
    median = mrs[mid] if len(mrs) % 2 else (mrs[mid - 1] + mrs[mid]) / 2.0
    return median / MEDIAN_MR_D4


def overall_sigma(values: Sequence[float]) -> float:
    n = len(values)
    if n < 2:
        raise DetectorInputError("the overall SD needs at least 2 values")
    return sample_sd(values, mean_of(values))


def sd_sigma(values: Sequence[float]) -> float:
    """qcc's individuals "SD": the sample SD over c4(n), unbiased for normal data.

    >>> sd_sigma([1.0, 3.0]) == 2.0**0.5 / c4(2)
    True
    """
    return overall_sigma(values) / c4(len(values))


def uwave_r_sigma(ranges: Sequence[float], sizes: Sequence[int], constants: str = "table") -> float:
    """``sum(R_i / d2(n_i)) / m`` (qcc's UWAVE-R).

    >>> uwave_r_sigma([1.0, 2.0], [2, 3]) == (1.0 / 1.128 + 2.0 / 1.693) / 2
    True
    """
    if not ranges:
        raise DetectorInputError("sigma from ranges needs at least one subgroup of 2 or more")
    return safe_fsum(r / d2(n, constants) for r, n in zip(ranges, sizes, strict=True)) / len(ranges)


def uwave_sd_sigma(sds: Sequence[float], sizes: Sequence[int]) -> float:
    """``sum(S_i / c4(n_i)) / m`` (qcc's UWAVE-SD)."""
    if not sds:
        raise DetectorInputError("sigma from SDs needs at least one subgroup of 2 or more")
    return safe_fsum(s / c4(n) for s, n in zip(sds, sizes, strict=True)) / len(sds)


def rbar_sigma(ranges: Sequence[float], sizes: Sequence[int], constants: str = "table") -> float:
    """Minitab's R-bar, qcc's MVLUE-R (see the module docstring)."""
    if not ranges:
        raise DetectorInputError("sigma from ranges needs at least one subgroup of 2 or more")
    if len(set(sizes)) == 1:
        return (math.fsum(ranges) / len(ranges)) / d2(sizes[0], constants)
    weights = [(d2(n, constants) / d3(n, constants)) ** 2 for n in sizes]
    num = math.fsum(
        w * r / d2(n, constants) for w, r, n in zip(weights, ranges, sizes, strict=True)
    )
    return num / math.fsum(weights)


def sbar_sigma(sds: Sequence[float], sizes: Sequence[int]) -> float:
    """Minitab's S-bar, qcc's MVLUE-SD (see the module docstring)."""
    if not sds:
        raise DetectorInputError("sigma from SDs needs at least one subgroup of 2 or more")
    if len(set(sizes)) == 1:
        return (math.fsum(sds) / len(sds)) / c4(sizes[0])
    weights = [c4(n) ** 2 / (1.0 - c4(n) ** 2) for n in sizes]
    num = math.fsum(w * s / c4(n) for w, s, n in zip(weights, sds, sizes, strict=True))
    return num / math.fsum(weights)


def pooled_sigma(sds: Sequence[float], sizes: Sequence[int]) -> float:
    dof = sum(n - 1 for n in sizes)
    if dof < 1:
        raise DetectorInputError("the pooled SD needs at least one subgroup of 2 or more")
    scale = max(sds, default=0.0)
    if not 0.0 < scale < math.inf:
        return scale
    scale = math.ldexp(1.0, math.frexp(scale)[1] - 1)  # a power of two: exact
    shrunk = math.fsum((n - 1) * (s / scale) * (s / scale) for s, n in zip(sds, sizes, strict=True))
    return math.sqrt(shrunk / dof) * scale / c4(dof + 1)


def canonical_method(method: str) -> str:
    """The estimator a subgroup method name means (old names map to the new ones).

    >>> canonical_method("rbar"), canonical_method("rmsdf"), canonical_method("uwave-r")
    ('mvlue-r', 'pooled', 'uwave-r')
    """
    if method == "rmsdf":
        return "pooled"
    return SUBGROUP_ALIASES.get(method, method)


def subgroup_sigma(
    method: str, subgroups: Sequence[Sequence[float]], constants: str = "table"
) -> float:
    """Sigma of subgrouped data by ``method`` (one of :data:`SUBGROUP_METHODS`)."""
    if method not in SUBGROUP_METHODS:
        raise ValueError(f"unknown sigma method {method!r}; choose from {SUBGROUP_METHODS}")
    chosen = canonical_method(method)
    if chosen == "overall":
        return overall_sigma([v for g in subgroups for v in g])
    usable = [g for g in subgroups if len(g) >= 2]
    sizes = [len(g) for g in usable]
    if chosen in ("mvlue-r", "uwave-r"):
        ranges = [max(g) - min(g) for g in usable]
        if chosen == "uwave-r":
            return uwave_r_sigma(ranges, sizes, constants)
        return rbar_sigma(ranges, sizes, constants)
    sds = [overall_sigma(g) for g in usable]
    if chosen == "uwave-sd":
        return uwave_sd_sigma(sds, sizes)
    if chosen == "mvlue-sd":
        return sbar_sigma(sds, sizes)
    return pooled_sigma(sds, sizes)
