"""Hotelling T² chart for individual multivariate observations (named equipment parameters).

Phase I (m observations, p variables, mean x-bar and sample covariance S):
``T²_i = (x_i - x-bar)' S^-1 (x_i - x-bar)``, judged against the beta limit
``UCL = (m-1)^2/m * Beta_{1-alpha}(p/2, (m-p-1)/2)`` (Tracy, Young & Mason 1992).
Phase II, for a new observation: ``UCL = p(m+1)(m-1)/(m^2 - m p) * F_{1-alpha}(p, m-p)``.
With ``mean`` and ``covariance`` given, ``UCL = chi2_{1-alpha}(p)``. LCL is 0 and the
plotted center is the median of the reference distribution; the rule is ``t2``.

A phase-I window whose covariance is singular or ill-conditioned (numerically rank
deficient, e.g. one value of 1e50 among readings near 400) is refused, and the window
slides past it (see :mod:`linewatch.detectors.spc.chart`); a T² that overflows is refused.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
from scipy import stats

from linewatch.detectors.base import DetectorInputError, Observation, finite
from linewatch.detectors.registry import ChartOption, register_chart
from linewatch.detectors.spc.chart import PhaseIChart, Stat

__all__ = ["HotellingT2Chart", "t2_limits"]


def t2_limits(m: int, p: int, alpha: float) -> dict[str, float]:
    """Phase-I (beta) and phase-II (F) upper limits and medians for m observations, p variables.

    >>> limits = t2_limits(30, 2, 0.0027)
    >>> round(limits["phase1_ucl"], 4), round(limits["phase2_ucl"], 4)
    (9.9447, 15.754)
    """
    phase1 = stats.beta(p / 2.0, (m - p - 1) / 2.0)
    phase2 = stats.f(p, m - p)
    scale1 = (m - 1) ** 2 / m
    scale2 = p * (m + 1) * (m - 1) / (m * m - m * p)
    return {
        "phase1_ucl": float(scale1 * phase1.ppf(1.0 - alpha)),
        "phase1_center": float(scale1 * phase1.median()),
        "phase2_ucl": float(scale2 * phase2.ppf(1.0 - alpha)),
        "phase2_center": float(scale2 * phase2.median()),
    }


class HotellingT2Chart(PhaseIChart):
    """T² over the named parameters; observations are mappings ``{name: value}``.

    >>> from datetime import datetime, timezone
    >>> ts = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> chart = HotellingT2Chart(names=("a", "b"), mean={"a": 0.0, "b": 0.0},
    ...                          covariance=[[1.0, 0.0], [0.0, 4.0]])
    >>> p = chart.update(ts, {"a": 1.0, "b": 2.0}).points[0]
    >>> p.value, round(p.ucl, 4)
    (2.0, 11.8290)
    """

    charts: ClassVar[tuple[str, ...]] = ("t2",)

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        """Settings the generic checks run this chart with."""
        return [{"names": ("a", "b", "c"), "phase1": 30, "phase1_passes": 1}]

    limit_rules: ClassVar[Mapping[str, str]] = {"t2": "t2"}

    def __init__(
        self,
        names: Sequence[str],
        phase1: int = 50,
        alpha: float = 0.0027,
        mean: Mapping[str, float] | None = None,
        covariance: Sequence[Sequence[float]] | None = None,
        phase1_passes: int = 0,
    ) -> None:
        if len(names) < 1 or len(set(names)) != len(names):
            raise ValueError(f"names must be distinct and not empty, got {names!r}")
        if phase1 < len(names) + 2:
            raise ValueError(f"phase1 must be at least p + 2 = {len(names) + 2}, got {phase1}")
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {alpha}")
        if (mean is None) != (covariance is None):
            raise ValueError("give both mean and covariance, or neither")
        self.names = tuple(names)
        self.phase1 = phase1
        self.alpha = alpha
        self.mean = mean
        self.covariance = covariance
        self.phase1_passes = phase1_passes
        self._init_state()

    def _check(self, x: Observation) -> list[float]:
        if not isinstance(x, Mapping):
            raise DetectorInputError(f"expected a mapping of {self.names}, got {x!r}")
        missing = [n for n in self.names if n not in x]
        if missing:
            raise DetectorInputError(f"missing parameters {missing} (have {sorted(x)})")
        return [finite(x[n], n) for n in self.names]

    def _known(self) -> dict[str, Any] | None:
        if self.mean is None or self.covariance is None:
            return None
        p = len(self.names)
        cov = np.array(self.covariance, dtype=float)
        if cov.shape != (p, p):
            raise ValueError(f"covariance must be {p}x{p}, got shape {cov.shape}")
        inverse = _inverse(cov)
        chi2 = stats.chi2(p)
        return {
            "mean": [float(self.mean[n]) for n in self.names],
            "inverse": inverse,
            "phase1_n": 0,
            "ucl1": 0.0,
            "center1": 0.0,
            "ucl2": float(chi2.ppf(1.0 - self.alpha)),
            "center2": float(chi2.median()),
        }

    def _estimate(self, observations: Sequence[Any], keep: Sequence[bool]) -> dict[str, Any]:
        data = np.array([o for o, k in zip(observations, keep, strict=True) if k], dtype=float)
        m, p = data.shape
        if m < p + 2:
            raise DetectorInputError(f"T² needs at least p + 2 = {p + 2} kept observations")
        limits = t2_limits(m, p, self.alpha)
        return {
            "mean": data.mean(axis=0).tolist(),
            "inverse": _inverse(np.cov(data, rowvar=False, ddof=1).reshape(p, p)),
            "phase1_n": len(observations),
            "ucl1": limits["phase1_ucl"],
            "center1": limits["phase1_center"],
            "ucl2": limits["phase2_ucl"],
            "center2": limits["phase2_center"],
        }

    def _new_carry(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"judged": 0}

    def _stats(self, obs: Any, params: dict[str, Any], carry: dict[str, Any]) -> tuple[Stat, ...]:
        diff = [x - m for x, m in zip(obs, params["mean"], strict=True)]
        inverse = params["inverse"]
        terms = [
            diff[i] * inverse[i][j] * diff[j] for i in range(len(diff)) for j in range(len(diff))
        ]
        try:
            t2 = math.fsum(terms)
        except (OverflowError, ValueError):  # inf among the terms: the chart refuses it
            t2 = math.inf
        phase1 = carry["judged"] < params["phase1_n"]
        carry["judged"] += 1
        ucl, center = (
            (params["ucl1"], params["center1"]) if phase1 else (params["ucl2"], params["center2"])
        )
        return (Stat("t2", t2, center, math.nan, 0.0, ucl),)

    def _limit_description(self, chart: str) -> str:
        return f"Hotelling T² beyond its upper limit (alpha = {self.alpha:g})"


def _inverse(cov: np.ndarray) -> list[list[float]]:
    if not np.all(np.isfinite(cov)) or np.linalg.matrix_rank(cov) < cov.shape[0]:
        raise DetectorInputError(
            "the covariance matrix is singular (a constant or "
            "collinear parameter?); T² is undefined"
        )
    inverse: list[list[float]] = np.linalg.inv(cov).tolist()
    return inverse


_ALPHA = ChartOption("alpha", None, "T2 false-alarm rate; capability confidence level")
register_chart(
    "t2",
    HotellingT2Chart,
    kind="multivariate",
    takes="vector",
    options=(_ALPHA,),
    description="Hotelling T² of a vector of parameters, F-based limits",
)
