"""Capability beside a control chart: indices, PPM and normality for ``analyze``.

The indices are :func:`linewatch.detectors.spc.capability.capability` of all the values
(within σ by the chart's own estimator: MR̄/d₂ for individuals, R̄/d₂ for X̄-R, S̄/c₄ for
X̄-S, or ``--sigma`` when it names one of ``mr``, ``rbar``, ``sbar``, ``pooled``). PPM are
observed (the values beyond each limit) and expected under the normal curves of the within
and the overall σ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from linewatch.detectors.spc.capability import CapabilityResult, capability
from linewatch.detectors.spc.estimators import SUBGROUP_METHODS
from linewatch.pipeline.analyze_normality import Normality, anderson_darling
from linewatch.pipeline.charts.capability import ppm_expected

__all__ = ["CapabilityReport", "Ppm", "capability_report", "values_of"]

_WITHIN = {"imr": "mr", "xbar-r": "rbar", "xbar-s": "sbar", "capability": None}
_QCC_WITHIN = {"xbar-r": "uwave-r", "xbar-s": "uwave-sd"}


@dataclass(frozen=True, slots=True)
class Ppm:
    """Parts per million below LSL, above USL, and their total."""

    below: float
    above: float

    @property
    def total(self) -> float:
        return self.below + self.above

    def to_dict(self) -> dict[str, float]:
        return {"below": self.below, "above": self.above, "total": self.total}


@dataclass(frozen=True, slots=True)
class CapabilityReport:
    """What the capability section shows."""

    values: list[float]
    lsl: float | None
    usl: float | None
    target: float | None
    result: CapabilityResult
    observed: Ppm
    within: Ppm
    overall: Ppm
    normality: Normality | None

    def to_dict(self) -> dict[str, Any]:
        normality = self.normality
        return {
            "lsl": self.lsl,
            "usl": self.usl,
            "target": self.target,
            "ppm": {
                "observed": self.observed.to_dict(),
                "expected_within": self.within.to_dict(),
                "expected_overall": self.overall.to_dict(),
            },
            "normality": None
            if normality is None
            else {
                "test": "anderson-darling",
                "statistic": normality.statistic,
                "adjusted": normality.adjusted,
                "p_value": normality.p_value,
            },
        }


def values_of(data: Sequence[Any]) -> list[float]:
    """Every measurement of individuals or subgroups, flattened in order.

    >>> values_of([[1.0, 2.0], 3.0])
    [1.0, 2.0, 3.0]
    """
    out: list[float] = []
    for x in data:
        out.extend(float(v) for v in x) if isinstance(x, Sequence) else out.append(float(x))
    return out


def capability_report(
    chart: str,
    data: Sequence[Any],
    lsl: float | None,
    usl: float | None,
    target: float | None = None,
    sigma: str | None = None,
    alpha: float = 0.05,
    known_sigma: float | None = None,
    convention: str = "minitab",
) -> CapabilityReport:
    """Capability of ``data`` as chart ``chart`` groups it (see the module docstring)."""
    if chart not in _WITHIN:
        raise ValueError(
            f"--lsl/--usl give capability for imr, xbar-r, xbar-s and capability, not {chart}"
        )
    method: str | None
    if sigma in ("mr", "sd", *SUBGROUP_METHODS):
        method = sigma
    elif convention == "qcc":  # qcc's own defaults for subgroups
        method = _QCC_WITHIN.get(chart, _WITHIN[chart])
    else:
        method = _WITHIN[chart]
    result = capability(
        list(data),
        lsl,
        usl,
        target,
        sigma_method=method,
        sigma_within=known_sigma,
        alpha=alpha,
        convention=convention,
    )
    values = values_of(data)
    n = len(values)
    observed = Ppm(
        1e6 * sum(1 for v in values if lsl is not None and v < lsl) / n,
        1e6 * sum(1 for v in values if usl is not None and v > usl) / n,
    )
    within = Ppm(*ppm_expected(result.mean, result.sigma_within, lsl, usl))
    overall = Ppm(*ppm_expected(result.mean, result.sigma_overall, lsl, usl))
    normality = anderson_darling(values) if n >= 3 and max(values) > min(values) else None
    return CapabilityReport(values, lsl, usl, target, result, observed, within, overall, normality)
