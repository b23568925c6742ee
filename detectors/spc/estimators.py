"""Estimators of the process sigma, one per method a characteristic may choose.

========== ====================================================================
method     estimate
========== ====================================================================
``mr``     average moving range (span 2) over d2(2)
``median_mr`` median moving range over 0.954 (Minitab's robust option)
``rbar``   subgroup ranges: sum(f_i R_i / d2(n_i)) / sum(f_i), f_i = d2(n_i)^2/d3(n_i)^2;
           with equal sizes this is R-bar / d2(n) (Burr's weighting, as Minitab and qcc)
``sbar``   subgroup SDs: sum(h_i S_i / c4(n_i)) / sum(h_i), h_i = c4(n_i)^2/(1-c4(n_i)^2);
           with equal sizes this is S-bar / c4(n)
``pooled`` sqrt(sum((n_i-1) S_i^2) / sum(n_i-1)) / c4(sum(n_i-1)+1) (Minitab, unbiased)
``overall`` sample SD of all values (n-1 denominator, no c4), as qcc uses for Pp
========== ====================================================================

>>> round(mr_sigma([10.0, 12.0, 11.0, 13.0]), 6)
1.477541
>>> rbar_sigma([0.023], [5]) == 0.023 / 2.326
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from linewatch.detectors.base import DetectorInputError
from linewatch.detectors.spc.constants import c4, d2, d3

__all__ = [
    "SUBGROUP_METHODS",
    "median_mr_sigma",
    "moving_ranges",
    "mr_sigma",
    "overall_sigma",
    "pooled_sigma",
    "rbar_sigma",
    "sbar_sigma",
    "subgroup_sigma",
]

SUBGROUP_METHODS = ("rbar", "sbar", "pooled", "overall")

MEDIAN_MR_D4 = 0.954  # median of the span-2 moving range of unit normals (Minitab)


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
    return (math.fsum(mrs) / len(mrs)) / d2(2, constants)


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
    mean = math.fsum(values) / n
    return math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))


def rbar_sigma(ranges: Sequence[float], sizes: Sequence[int], constants: str = "table") -> float:
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
    pooled = math.sqrt(math.fsum((n - 1) * s * s for s, n in zip(sds, sizes, strict=True)) / dof)
    return pooled / c4(dof + 1)


def subgroup_sigma(
    method: str, subgroups: Sequence[Sequence[float]], constants: str = "table"
) -> float:
    """Sigma of subgrouped data by ``method`` (one of :data:`SUBGROUP_METHODS`)."""
    if method == "overall":
        return overall_sigma([v for g in subgroups for v in g])
    usable = [g for g in subgroups if len(g) >= 2]
    sizes = [len(g) for g in usable]
    if method == "rbar":
        return rbar_sigma([max(g) - min(g) for g in usable], sizes, constants)
    sds = [overall_sigma(g) for g in usable]
    if method == "sbar":
        return sbar_sigma(sds, sizes)
    if method == "pooled":
        return pooled_sigma(sds, sizes)
    raise ValueError(f"unknown sigma method {method!r}; choose from {SUBGROUP_METHODS}")
