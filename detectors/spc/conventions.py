"""Which tool's conventions the numbers follow: ``minitab`` (the default) or ``qcc`` (R, 2.7).

A convention only picks *defaults*; an explicit setting (a ``sigma`` method, ``constants``)
always wins. Point by point (the README's "Conventions" section says the same):

=========================== ============================== ==============================
item                        ``minitab``                    ``qcc``
=========================== ============================== ==============================
sigma, Xbar-R               ``rbar`` = ``mvlue-r``          ``uwave-r``
sigma, Xbar-S               ``sbar`` = ``mvlue-sd``         ``uwave-sd``
R / S chart center          ``d2(n_i)·sigma`` /            one size-weighted mean
                            ``c4(n_i)·sigma`` per point    ``sum(n_i R_i)/sum(n_i)`` (S_i)
d2, d3                      the chart's ``constants``      qcc's table: d2 to 3 decimals,
                            (default ``table``)            d3 to 7 (``constants="qcc"``)
capability CI, Cpl/Cpu      two-sided z (Bissell)          one-sided ``z_{1-alpha}``
capability CI, Cpm          Boyles: ``n(1+a²)²/(1+2a²)``   ``n(1+a²)/(1+2a²)`` df
=========================== ============================== ==============================

Both report sigma for every chart (:func:`process_sigma`), qcc's way for the attribute
charts: p ``sqrt(p̄(1-p̄))``, np ``sqrt(n p̄(1-p̄))``, c ``sqrt(c̄)``, u ``sqrt(ū)``.

>>> process_sigma("p", {"center": 0.1}, [50, 50])
0.3
>>> process_sigma("np", {"center": 0.1}, [50, 40]) is None
True
>>> check_convention("QCC")
'qcc'
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "CONVENTIONS",
    "DEFAULT_CONVENTION",
    "check_convention",
    "process_sigma",
]

CONVENTIONS = ("minitab", "qcc")
DEFAULT_CONVENTION = "minitab"


def check_convention(name: str) -> str:
    """``name`` lower-cased if it is a convention; ValueError naming the choices otherwise."""
    chosen = str(name).strip().lower()
    if chosen not in CONVENTIONS:
        raise ValueError(f"convention must be 'minitab' or 'qcc', got {name!r}")
    return chosen


def process_sigma(chart: str, params: Mapping[str, Any], sizes: Sequence[float]) -> float | None:
    """The sigma a chart reports (qcc's ``std.dev``), from its phase-I ``params``.

    Variables charts: the estimated process sigma. p: ``sqrt(p̄(1-p̄))``; np:
    ``sqrt(n p̄(1-p̄))`` when every subgroup has the same size ``n`` (qcc then has one
    number; with unequal sizes it has one per point, see the chart series' ``sigma``) else
    None; c: ``sqrt(c̄)``; u: ``sqrt(ū)``; Laney p'/u': the p/u value times ``sigma_z``.
    None when there are no estimated parameters (limits given as numbers) or the chart has
    no single sigma (zmr's per-part sigmas, T²).
    """
    if "sigma" in params:
        return float(params["sigma"])
    center = params.get("center")
    if not isinstance(center, (int, float)):
        return None
    if chart in ("p", "np", "laney-p"):
        sigma = math.sqrt(center * (1.0 - center))
        if chart == "np":
            if not sizes or len(set(sizes)) != 1:
                return None
            return math.sqrt(sizes[0]) * sigma
    elif chart in ("c", "u", "laney-u"):
        sigma = math.sqrt(center)
    else:
        return None  # a chart of its own kind (zmr's per-part sigmas, T²): nothing to report
    return sigma * float(params.get("sigma_z", 1.0))
