"""Time-weighted charts: tabular CUSUM and EWMA, on individuals or subgroup means.

Observations are floats (individuals) or subgroups (sequences of floats, any size >= 1);
subgroup i contributes its mean with standard error ``sigma/sqrt(n_i)``.

Target and sigma are given (``target``, ``sigma``), or estimated from ``phase1``
observations: the target as the mean of all phase-I values, sigma by ``sigma_method``
(``"mr"`` for individuals, ``"rbar"``/``"sbar"``/``"pooled"``/``"overall"`` for subgroups;
default ``"mr"`` when every phase-I observation is a single value, else ``"rbar"``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from linewatch.detectors.base import MIN_SIGMA, DetectorInputError, Observation, as_values
from linewatch.detectors.registry import ChartOption, register_chart
from linewatch.detectors.spc.chart import PhaseIChart, Stat
from linewatch.detectors.spc.estimators import (
    SUBGROUP_METHODS,
    mean_of,
    mr_sigma,
    subgroup_sigma,
)

__all__ = ["CusumChart", "EwmaChart"]

_METHODS = ("mr", *SUBGROUP_METHODS)


def _as_group(x: Observation) -> list[float]:
    if isinstance(x, (Mapping, str, bytes)):
        raise DetectorInputError(f"expected a number or a subgroup of numbers, got {x!r}")
    if isinstance(x, Sequence):
        values = as_values(x)
        if not values:
            raise DetectorInputError("an empty subgroup")
        return values
    return as_values([x], "value")


class _TimeWeighted(PhaseIChart):
    """Target/sigma handling shared by CUSUM and EWMA."""

    phase1: int
    target: float | None
    sigma: float | None
    sigma_method: str | None

    def _validate_common(self) -> None:
        if self.phase1 < 2:
            raise ValueError(f"phase1 must be at least 2, got {self.phase1}")
        if self.sigma is not None and not self.sigma > 0:
            raise ValueError(f"sigma must be positive, got {self.sigma}")
        if self.sigma_method is not None and self.sigma_method not in _METHODS:
            raise ValueError(f"sigma_method must be one of {_METHODS}, got {self.sigma_method!r}")

    def _check(self, x: Observation) -> list[float]:
        return _as_group(x)

    def _known(self) -> dict[str, Any] | None:
        if self.target is not None and self.sigma is not None:
            return {"target": float(self.target), "sigma": float(self.sigma)}
        return None

    def _estimate(self, observations: Sequence[Any], keep: Sequence[bool]) -> dict[str, Any]:
        groups = [g for g, k in zip(observations, keep, strict=True) if k]
        target = (
            float(self.target)
            if self.target is not None
            else math.fsum(v for g in groups for v in g) / sum(len(g) for g in groups)
        )
        if self.sigma is not None:
            return {"target": target, "sigma": float(self.sigma)}
        individuals = all(len(g) == 1 for g in observations)
        method = self.sigma_method or ("mr" if individuals else "rbar")
        if method == "mr":
            if not individuals:
                raise DetectorInputError("sigma_method 'mr' needs individual observations")
            sigma = mr_sigma([g[0] for g in observations], keep)
        else:
            sigma = subgroup_sigma(method, groups)
        if not sigma >= MIN_SIGMA:
            raise DetectorInputError(
                f"phase I gives sigma = {sigma!r}; are all values equal?"
                f" (sigma must be >= {MIN_SIGMA!r})"
            )
        return {"target": target, "sigma": sigma}


class CusumChart(_TimeWeighted):
    """Tabular CUSUM in sigma units (as qcc): decision interval ``h``, reference value ``k``.

    With z_i = (x-bar_i - target) / (sigma/sqrt(n_i)):
    ``C+_i = max(0, C+_{i-1} + z_i - k)`` and ``C-_i = max(0, C-_{i-1} - z_i - k)``, starting
    from ``headstart * h`` (fast initial response; Lucas & Crosier use 0.5). Plotted as
    ``cusum_upper`` = C+ (UCL h) and ``cusum_lower`` = -C- (LCL -h), signalling rules
    ``cusum_upper``/``cusum_lower`` when C+ > h or C- > h. ``reset_on_signal`` restarts both
    sums at the headstart after a signal (otherwise they keep accumulating, as in the book).

    >>> from datetime import datetime, timezone
    >>> ts = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> chart = CusumChart(target=10.0, sigma=1.0)
    >>> [round(p.value, 2) for p in chart.update(ts, 11.66).points]
    [1.16, 0.0]
    """

    charts: ClassVar[tuple[str, ...]] = ("cusum_upper", "cusum_lower")

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        """Settings the generic checks run this chart with."""
        return [
            {"phase1": 20, "headstart": 0.5},
            {"phase1": 20, "reset_on_signal": True},
        ]

    limit_rules: ClassVar[Mapping[str, str]] = {
        "cusum_upper": "cusum_upper",
        "cusum_lower": "cusum_lower",
    }

    def __init__(
        self,
        phase1: int = 20,
        k: float = 0.5,
        h: float = 5.0,
        target: float | None = None,
        sigma: float | None = None,
        headstart: float = 0.0,
        reset_on_signal: bool = False,
        sigma_method: str | None = None,
    ) -> None:
        if not k >= 0 or not h > 0:
            raise ValueError(f"need k >= 0 and h > 0, got k={k}, h={h}")
        if not 0.0 <= headstart < 1.0:
            raise ValueError(f"headstart is a fraction of h in [0, 1), got {headstart}")
        self.phase1 = phase1
        self.k = k
        self.h = h
        self.target = target
        self.sigma = sigma
        self.headstart = headstart
        self.reset_on_signal = reset_on_signal
        self.sigma_method = sigma_method
        self._validate_common()
        self._init_state()

    def _new_carry(self, params: dict[str, Any]) -> dict[str, Any]:
        start = self.headstart * self.h
        return {"upper": start, "lower": start}

    def _stats(self, obs: Any, params: dict[str, Any], carry: dict[str, Any]) -> tuple[Stat, ...]:
        n = len(obs)
        mean = obs[0] if n == 1 else mean_of(obs)
        z = (mean - params["target"]) / (params["sigma"] / math.sqrt(n))
        upper = max(0.0, carry["upper"] + z - self.k)
        lower = max(0.0, carry["lower"] - z - self.k)
        h = self.h
        if self.reset_on_signal and (upper > h or lower > h):
            carry["upper"] = carry["lower"] = self.headstart * h
        else:
            carry["upper"], carry["lower"] = upper, lower
        return (
            Stat("cusum_upper", upper, 0.0, 1.0, None, h),
            Stat("cusum_lower", -lower, 0.0, 1.0, -h, None),
        )

    def _limit_description(self, chart: str) -> str:
        side = "upper" if chart == "cusum_upper" else "lower"
        return f"{side} CUSUM beyond the decision interval h = {self.h:g} (k = {self.k:g})"


class EwmaChart(_TimeWeighted):
    """EWMA chart with exact time-varying limits (rule ``ewma`` when beyond them).

    ``z_i = lam * x-bar_i + (1 - lam) * z_{i-1}``, ``z_0 = target``. Its variance is carried
    exactly, also for unequal subgroup sizes: ``V_i = (1-lam)^2 V_{i-1} + lam^2 sigma^2/n_i``
    (for constant n this is ``lam/(2-lam) (1-(1-lam)^(2i)) sigma^2/n``); limits are
    ``target ± L sqrt(V_i)``. ``steady_state=True`` uses the asymptotic
    ``target ± L sigma sqrt(lam/((2-lam) n))`` instead (as the NIST handbook and the ARL
    tables of Lucas & Saccucci do).

    >>> from datetime import datetime, timezone
    >>> ts = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> chart = EwmaChart(lam=0.1, L=2.7, target=10.0, sigma=1.0)
    >>> p = chart.update(ts, 9.45).points[0]
    >>> round(p.value, 4), round(p.ucl, 4), round(p.lcl, 4)
    (9.945, 10.27, 9.73)
    """

    charts: ClassVar[tuple[str, ...]] = ("ewma",)

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        """Settings the generic checks run this chart with."""
        return [
            {"phase1": 20, "lam": 0.2},
            {"target": 7.5, "sigma": 3.0, "steady_state": True},  # fits both streams
        ]

    limit_rules: ClassVar[Mapping[str, str]] = {"ewma": "ewma"}

    def __init__(
        self,
        phase1: int = 20,
        lam: float = 0.2,
        L: float = 3.0,
        target: float | None = None,
        sigma: float | None = None,
        steady_state: bool = False,
        sigma_method: str | None = None,
    ) -> None:
        if not 0.0 < lam <= 1.0:
            raise ValueError(f"lam must be in (0, 1], got {lam}")
        if not L > 0:
            raise ValueError(f"L must be positive, got {L}")
        self.phase1 = phase1
        self.lam = lam
        self.L = L
        self.target = target
        self.sigma = sigma
        self.steady_state = steady_state
        self.sigma_method = sigma_method
        self._validate_common()
        self._init_state()

    def _new_carry(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"z": params["target"], "variance": 0.0}

    def _stats(self, obs: Any, params: dict[str, Any], carry: dict[str, Any]) -> tuple[Stat, ...]:
        n = len(obs)
        mean = obs[0] if n == 1 else mean_of(obs)
        lam, target, sigma = self.lam, params["target"], params["sigma"]
        z = lam * mean + (1.0 - lam) * carry["z"]
        keep = 1.0 - lam
        variance = keep * keep * carry["variance"] + lam * lam * sigma * sigma / n
        carry["z"], carry["variance"] = z, variance
        if self.steady_state:
            spread = sigma * math.sqrt(lam / ((2.0 - lam) * n))
        else:
            spread = math.sqrt(variance)
        return (
            Stat("ewma", z, target, spread, target - self.L * spread, target + self.L * spread),
        )

    def _limit_description(self, chart: str) -> str:
        return f"EWMA beyond its {self.L:g}-sigma limit (lambda = {self.lam:g})"


_TARGET = ChartOption("target", None, "target (CUSUM, EWMA: default the center)")
register_chart(
    "cusum",
    CusumChart,
    kind="time-weighted",
    takes="values",
    sigma_methods=_METHODS,
    options=(
        ChartOption("k", 0.5, "CUSUM reference value (sigmas)"),
        ChartOption("h", 5.0, "CUSUM decision interval (sigmas)"),
        ChartOption("headstart", 0.0, "CUSUM FIR, fraction of h"),
        _TARGET,
    ),
    description="Tabular CUSUM of values or subgroup means, in sigma units",
)
register_chart(
    "ewma",
    EwmaChart,
    kind="time-weighted",
    takes="values",
    sigma_methods=_METHODS,
    options=(
        ChartOption("lam", 0.2, "EWMA weight", flag="--lambda"),
        ChartOption("L", 3.0, "EWMA limit width", flag="-L"),
        ChartOption("steady_state", False, "EWMA asymptotic limits"),
        _TARGET,
    ),
    description="EWMA of values or subgroup means, exact time-varying limits",
)
