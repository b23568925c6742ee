"""X-bar and R, X-bar and S charts for subgroups of variable size (limits per point).

For subgroup i of size n_i, with process sigma and center x-double-bar:

* x-bar: ``center ± k·sigma/sqrt(n_i)``;
* range: center ``d2(n_i)·sigma``, limits ``(d2(n_i) ± k·d3(n_i))·sigma``, lower clipped at 0;
* stdev: center ``c4(n_i)·sigma``, limits ``(c4(n_i) ± k·sqrt(1 - c4(n_i)^2))·sigma``,
  lower clipped at 0.

The center is the mean of all phase-I values (the size-weighted mean of the subgroup
means); sigma comes from :mod:`linewatch.detectors.spc.estimators` (``uwave-r``,
``mvlue-r`` alias ``rbar``, ``uwave-sd``, ``mvlue-sd`` alias ``sbar``, ``pooled``/``rmsdf``,
``overall``). With equal sizes and R-bar these are Montgomery's A2, D3, D4 limits.

``convention="qcc"`` (see :mod:`linewatch.detectors.spc.conventions`) changes two defaults:
sigma by ``uwave-r`` (Xbar-R) or ``uwave-sd`` (Xbar-S), and the dispersion chart's center,
which becomes one number for every point, the size-weighted mean of the phase-I ranges
``sum(n_i R_i) / sum(n_i)`` (SDs for the S chart), with limits
``center ± k·d3(n_i)·sigma`` (``center ± k·sqrt(1 - c4(n_i)^2)·sigma``), lower clipped at 0,
as qcc's ``stats.R``/``limits.R`` (``stats.S``/``limits.S``) compute them. With a known
center and sigma (no phase I) there are no ranges to average, and the per-point
``d2(n_i)·sigma`` center is used under both conventions. For equal sizes the two
conventions give the same numbers (up to rounding in the last bits).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from linewatch.detectors.base import MIN_SIGMA, DetectorInputError, Observation, as_values
from linewatch.detectors.registry import register_chart
from linewatch.detectors.spc.chart import PhaseIChart, Stat, check_shewhart_args
from linewatch.detectors.spc.constants import MAX_N, c4, d2, d3
from linewatch.detectors.spc.conventions import check_convention
from linewatch.detectors.spc.estimators import (
    SUBGROUP_METHODS,
    mean_of,
    sample_sd,
    subgroup_sigma,
)
from linewatch.detectors.spc.rules import RuleSet

__all__ = ["XbarRChart", "XbarSChart", "check_subgroup"]


def check_subgroup(x: Observation, minimum: int = 2, maximum: int | None = None) -> list[float]:
    """A subgroup as a list of finite floats, or DetectorInputError naming the problem."""
    if isinstance(x, (Mapping, str, bytes)) or not isinstance(x, Sequence):
        raise DetectorInputError(f"a subgroup must be a sequence of numbers, got {x!r}")
    values = as_values(x)
    if len(values) < minimum:
        raise DetectorInputError(f"a subgroup needs at least {minimum} values, got {len(values)}")
    if maximum is not None and len(values) > maximum:
        raise DetectorInputError(f"a subgroup may have at most {maximum} values, got {len(values)}")
    return values


class _XbarChart(PhaseIChart):
    dispersion_name: ClassVar[str] = ""
    default_method: ClassVar[str] = ""
    qcc_method: ClassVar[str] = ""
    max_size: ClassVar[int | None] = None

    def __init__(
        self,
        phase1: int = 25,
        k_sigma: float = 3.0,
        sigma_method: str | None = None,
        center: float | None = None,
        sigma: float | None = None,
        limits: Mapping[str, Sequence[float]] | None = None,
        rules: RuleSet | None = None,
        dispersion_rules: RuleSet | None = None,
        phase1_passes: int = 0,
        constants: str = "table",
        convention: str = "minitab",
    ) -> None:
        if phase1 < 1:
            raise ValueError(f"phase1 must be at least 1, got {phase1}")
        if sigma_method is not None and sigma_method not in SUBGROUP_METHODS:
            raise ValueError(
                f"sigma_method must be one of {SUBGROUP_METHODS}, got {sigma_method!r}"
            )
        check_shewhart_args(k_sigma, sigma, limits, self.charts)
        self.phase1 = phase1
        self.k_sigma = k_sigma
        self.sigma_method = sigma_method
        self.center = center
        self.sigma = sigma
        self.limits = limits
        self.rules = rules
        self.dispersion_rules = dispersion_rules
        self.phase1_passes = phase1_passes
        self.constants = constants
        self.convention = check_convention(convention)
        d2(2, constants)  # validates ``constants``
        self._init_state()

    def _check(self, x: Observation) -> list[float]:
        return check_subgroup(x, 2, self.max_size)

    def _known(self) -> dict[str, Any] | None:
        if self.limits is not None:
            return {"given": {c: [float(v) for v in self.limits[c]] for c in self.charts}}
        if self.center is not None and self.sigma is not None:
            return {"center": float(self.center), "sigma": float(self.sigma)}
        return None

    def _estimate(self, observations: Sequence[Any], keep: Sequence[bool]) -> dict[str, Any]:
        kept = [g for g, k in zip(observations, keep, strict=True) if k]
        if self.center is not None:
            center = float(self.center)
        else:
            center = math.fsum(v for g in kept for v in g) / sum(len(g) for g in kept)
        default = self.qcc_method if self.convention == "qcc" else self.default_method
        method = self.sigma_method or default
        sigma = (
            float(self.sigma)
            if self.sigma is not None
            else subgroup_sigma(method, kept, self.constants)
        )
        if not sigma >= MIN_SIGMA:
            raise DetectorInputError(
                f"phase I gives sigma = {sigma!r}; all subgroups constant?"
                f" (sigma must be >= {MIN_SIGMA!r})"
            )
        params = {"center": center, "sigma": sigma}
        if self.convention == "qcc":  # qcc's stats.R / stats.S: one size-weighted mean
            spreads = [len(g) * self._dispersion_value(g, mean_of(g)) for g in kept]
            params["dispersion_center"] = math.fsum(spreads) / sum(len(g) for g in kept)
        return params

    def _dispersion(
        self, values: list[float], sigma: float, k: float, center: float | None
    ) -> Stat:
        raise NotImplementedError

    def _stats(self, obs: Any, params: dict[str, Any], carry: dict[str, Any]) -> tuple[Stat, ...]:
        n = len(obs)
        mean = mean_of(obs)
        given = params.get("given")
        if given is not None:
            dispersion = self._dispersion_value(obs, mean)
            return (
                _given("xbar", mean, given, self.k_sigma),
                _given(self.dispersion_name, dispersion, given, self.k_sigma),
            )
        center, sigma, k = params["center"], params["sigma"], self.k_sigma
        s_mean = sigma / math.sqrt(n)
        return (
            Stat("xbar", mean, center, s_mean, center - k * s_mean, center + k * s_mean),
            self._dispersion(obs, sigma, k, params.get("dispersion_center")),
        )

    def _dispersion_value(self, values: list[float], mean: float) -> float:
        raise NotImplementedError


def _given(chart: str, value: float, given: Mapping[str, Sequence[float]], k: float) -> Stat:
    center, lcl, ucl = given[chart]
    return Stat(chart, value, center, (ucl - lcl) / (2.0 * k), lcl, ucl)


class XbarRChart(_XbarChart):
    """X-bar and R chart; observations are subgroups (sequences of 2 to 50 floats).

    Default sigma: R-bar/d2 (``sigma_method="rbar"``, Burr-weighted for unequal sizes);
    ``uwave-r`` under ``convention="qcc"``.

    >>> from datetime import datetime, timezone
    >>> ts = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> chart = XbarRChart(phase1=2)
    >>> chart.update(ts, [1.0, 2.0, 3.0]).points
    ()
    >>> [(p.chart, p.value) for p in chart.update(ts, [2.0, 4.0, 3.0]).points]
    [('xbar', 2.0), ('range', 2.0), ('xbar', 3.0), ('range', 2.0)]
    >>> chart.params == {"center": 2.5, "sigma": 2.0 / 1.693}
    True
    """

    charts: ClassVar[tuple[str, ...]] = ("xbar", "range")

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        """Settings the generic checks run this chart with."""
        return [
            {"phase1": 20, "rules": RuleSet.nelson(), "phase1_passes": 1},
            {"limits": {"xbar": (5.0, 4.0, 6.0), "range": (1.0, 0.0, 2.5)}},
        ]

    dispersion_charts: ClassVar[frozenset[str]] = frozenset({"range"})
    dispersion_name = "range"
    default_method = "rbar"
    qcc_method = "uwave-r"
    max_size = MAX_N

    def _dispersion_value(self, values: list[float], mean: float) -> float:
        return max(values) - min(values)

    def _dispersion(
        self, values: list[float], sigma: float, k: float, center: float | None
    ) -> Stat:
        n = len(values)
        if center is None:
            center = d2(n, self.constants) * sigma
        spread = d3(n, self.constants) * sigma
        return Stat(
            "range",
            max(values) - min(values),
            center,
            spread,
            max(0.0, center - k * spread),
            center + k * spread,
        )


class XbarSChart(_XbarChart):
    """X-bar and S chart; observations are subgroups (sequences of at least 2 floats).

    Default sigma: S-bar/c4 (``sigma_method="sbar"``, weighted for unequal sizes);
    ``uwave-sd`` under ``convention="qcc"``.

    >>> from datetime import datetime, timezone
    >>> ts = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> chart = XbarSChart(center=0.0, sigma=1.0)
    >>> [(p.chart, round(p.value, 4), round(p.ucl, 4)) for p in chart.update(ts, [1.0, -1.0]).points]
    [('xbar', 0.0, 2.1213), ('stdev', 1.4142, 2.6063)]
    """

    charts: ClassVar[tuple[str, ...]] = ("xbar", "stdev")

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        """Settings the generic checks run this chart with."""
        return [{"phase1": 20, "sigma_method": "pooled"}]

    dispersion_charts: ClassVar[frozenset[str]] = frozenset({"stdev"})
    dispersion_name = "stdev"
    default_method = "sbar"
    qcc_method = "uwave-sd"

    def _dispersion_value(self, values: list[float], mean: float) -> float:
        return sample_sd(values, mean)

    def _dispersion(
        self, values: list[float], sigma: float, k: float, center: float | None
    ) -> Stat:
        n = len(values)
        c = c4(n)
        if center is None:
            center = c * sigma
        spread = math.sqrt(1.0 - c * c) * sigma
        value = self._dispersion_value(values, mean_of(values))
        return Stat(
            "stdev", value, center, spread, max(0.0, center - k * spread), center + k * spread
        )


register_chart(
    "xbar-r",
    XbarRChart,
    kind="variables",
    takes="subgroup",
    description="Xbar and range of subgroups (n up to 50)",
    sigma_methods=SUBGROUP_METHODS,
)
register_chart(
    "xbar-s",
    XbarSChart,
    kind="variables",
    takes="subgroup",
    description="Xbar and standard deviation of subgroups (n up to 50)",
    sigma_methods=SUBGROUP_METHODS,
)
