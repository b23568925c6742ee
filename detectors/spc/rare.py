"""Charts for rare events: the g chart (counts between events) and the t chart (time between).

When nonconformities are rare, an np or c chart of lots has np̄ or c̄ far below 1: its
lower limit is 0, its upper limit is below one event, and any single event signals
(:func:`rare_event_advice` says so). Benneyan (2001) and Montgomery (*Introduction to
Statistical Quality Control*, §7.3) chart the gaps between events instead.

**g chart** (:class:`GChart`). One observation per event: the number of units (parts,
opportunities; fractional exposure is allowed) made since the previous event. In control
the count X is geometric from 0, P(X = x) = p (1-p)^x, with mean (1-p)/p. Phase I
estimates p̂ = 1/(x̄ + 1) (maximum likelihood); a given ``center`` is the mean count x̄.
The limits are probability limits with the false-alarm rate of a ``k_sigma`` normal chart,
α = 2 Φ(-k) (0.0027 for k = 3), split equally between the two tails:

    LCL = ln(1 - α/2) / ln(1 - p) - 1    (clipped at 0)
    UCL = ln(α/2) / ln(1 - p) - 1

so that P(X < LCL) <= α/2 and P(X > UCL) <= α/2 (Benneyan's limits; for whole counts
P(X > UCL) = (1-p)^(⌊UCL⌋+1)). The center line is x̄. A point below the LCL (events coming
too fast) or above the UCL (an improvement) signals rule ``g_limit``; run tests do not
apply to a chart this skewed.

**t chart** (:class:`TChart`). One observation per event: the time since the previous one
(any unit, >= 0). Times between events of a Poisson process are exponential, which Nelson
(1994) makes nearly normal with y = x^(1/3.6) (Weibull with shape 3.6 is close to normal);
the chart is an individuals chart of y: center ȳ, σ = MR̄/d₂(2) over phase I, limits
ȳ ± kσ with the LCL clipped at 0, and the configured run ``rules``. Plotted values and
limits are on the transformed scale (x = y^3.6 back); a given ``center``/``sigma`` are too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from linewatch.detectors.base import MIN_SIGMA, DetectorInputError, Observation, finite
from linewatch.detectors.registry import register_chart
from linewatch.detectors.spc.chart import PhaseIChart, Stat
from linewatch.detectors.spc.constants import d2
from linewatch.detectors.spc.estimators import moving_ranges
from linewatch.detectors.spc.rules import RuleSet

__all__ = [
    "NELSON_EXPONENT",
    "GChart",
    "TChart",
    "g_limits",
    "g_signal_probability",
    "rare_event_advice",
    "two_sided_alpha",
]

#: Nelson's transform of exponential times between events: y = x ** (1 / 3.6).
NELSON_EXPONENT = 1.0 / 3.6

#: Mean events per lot below which an np or c chart is not a 3-sigma chart any more.
RARE_EVENT_MEAN = 1.0


def two_sided_alpha(k_sigma: float) -> float:
    """False-alarm rate of a two-sided ``k_sigma`` normal chart, 2 Φ(-k).

    >>> round(two_sided_alpha(3.0), 6)
    0.0027
    """
    return math.erfc(k_sigma / math.sqrt(2.0))


def g_limits(p: float, alpha: float) -> tuple[float, float]:
    """(LCL, UCL) of a g chart with event probability ``p`` per unit, false-alarm ``alpha``.

    >>> [round(v, 4) for v in g_limits(0.01, 0.0027)]
    [0.0, 656.4557]
    """
    log_q = math.log1p(-p)
    lcl = math.log1p(-alpha / 2.0) / log_q - 1.0
    ucl = math.log(alpha / 2.0) / log_q - 1.0
    return max(0.0, lcl), ucl


def g_signal_probability(p: float, lcl: float, ucl: float) -> float:
    """P(a whole count X falls below ``lcl`` or above ``ucl``) when X is geometric(``p``).

    1/this is the in-control ARL (points to a false alarm) of a g chart of whole counts.

    >>> round(1.0 / g_signal_probability(0.01, *g_limits(0.01, 0.0027)), 1)
    737.4
    """
    q = 1.0 - p
    below = 0.0 if lcl <= 0.0 else 1.0 - q ** float(math.ceil(lcl))  # X <= ceil(lcl) - 1
    above = q ** (math.floor(ucl) + 1.0)
    return float(below + above)


class GChart(PhaseIChart):
    """g chart of the count of units between events (see the module docstring).

    >>> from datetime import datetime, timezone
    >>> ts = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> chart = GChart(center=99.0)  # p = 0.01
    >>> point = chart.update(ts, 700).points[0]
    >>> point.center, point.lcl, round(point.ucl, 4), point.rules
    (99.0, 0.0, 656.4632, ('g_limit',))
    """

    charts: ClassVar[tuple[str, ...]] = ("g",)
    limit_rules: ClassVar[Mapping[str, str]] = {"g": "g_limit"}

    def __init__(
        self,
        phase1: int = 25,
        k_sigma: float = 3.0,
        center: float | None = None,
        phase1_passes: int = 0,
    ) -> None:
        if phase1 < 2:
            raise ValueError(f"phase1 must be at least 2, got {phase1}")
        if not k_sigma > 0:
            raise ValueError(f"k_sigma must be positive, got {k_sigma}")
        if center is not None and not center > 0:
            raise ValueError(f"center (mean count between events) must be positive, got {center}")
        self.phase1 = phase1
        self.k_sigma = k_sigma
        self.center = center
        self.phase1_passes = phase1_passes
        self._init_state()

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        """Settings the generic checks run this chart with."""
        return [{"phase1": 20}, {"center": 9.0, "k_sigma": 2.0}]

    def _check(self, x: Observation) -> float:
        if not isinstance(x, (int, float)):
            raise DetectorInputError(f"expected the count of units since the last event, got {x!r}")
        count = finite(x, "count between events")
        if count < 0:
            raise DetectorInputError(f"count between events must be >= 0, got {count!r}")
        return count

    def _known(self) -> dict[str, Any] | None:
        return None if self.center is None else self._params_of(float(self.center))

    def _estimate(self, observations: Sequence[Any], keep: Sequence[bool]) -> dict[str, Any]:
        kept = [x for x, k in zip(observations, keep, strict=True) if k]
        mean = math.fsum(kept) / len(kept)
        if not mean > 0:
            raise DetectorInputError("every phase-I count between events is 0")
        return self._params_of(mean)

    def _params_of(self, mean: float) -> dict[str, Any]:
        p = 1.0 / (mean + 1.0)
        lcl, ucl = g_limits(p, two_sided_alpha(self.k_sigma))
        return {"center": mean, "p": p, "lcl": lcl, "ucl": ucl}

    def _stats(self, obs: Any, params: dict[str, Any], carry: dict[str, Any]) -> tuple[Stat, ...]:
        p = params["p"]
        sigma = math.sqrt(1.0 - p) / p
        return (Stat("g", obs, params["center"], sigma, params["lcl"], params["ucl"]),)

    def _limit_description(self, chart: str) -> str:
        return (
            "count between events beyond its probability limits (events too frequent or too rare)"
        )


class TChart(PhaseIChart):
    """t chart of the time between events, an individuals chart of x^(1/3.6).

    >>> from datetime import datetime, timezone
    >>> ts = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> point = TChart(center=2.0, sigma=0.5).update(ts, 4.0**3.6).points[0]
    >>> round(point.value, 9), point.lcl, point.ucl, point.rules
    (4.0, 0.5, 3.5, ('nelson1',))
    """

    charts: ClassVar[tuple[str, ...]] = ("t",)

    def __init__(
        self,
        phase1: int = 25,
        k_sigma: float = 3.0,
        center: float | None = None,
        sigma: float | None = None,
        rules: RuleSet | None = None,
        phase1_passes: int = 0,
    ) -> None:
        if phase1 < 2:
            raise ValueError(f"phase1 must be at least 2, got {phase1}")
        if not k_sigma > 0:
            raise ValueError(f"k_sigma must be positive, got {k_sigma}")
        if sigma is not None and not sigma > 0:
            raise ValueError(f"sigma must be positive, got {sigma}")
        if (center is None) != (sigma is None):
            raise ValueError("a t chart's given limits need both center and sigma")
        self.phase1 = phase1
        self.k_sigma = k_sigma
        self.center = center
        self.sigma = sigma
        self.rules = rules
        self.phase1_passes = phase1_passes
        self._init_state()

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        """Settings the generic checks run this chart with."""
        return [{"phase1": 20, "rules": RuleSet.nelson()}, {"center": 1.9, "sigma": 0.05}]

    def _check(self, x: Observation) -> float:
        if not isinstance(x, (int, float)):
            raise DetectorInputError(f"expected the time since the last event, got {x!r}")
        elapsed = finite(x, "time between events")
        if elapsed < 0:
            raise DetectorInputError(f"time between events must be >= 0, got {elapsed!r}")
        return float(elapsed**NELSON_EXPONENT)

    def _known(self) -> dict[str, Any] | None:
        if self.center is None or self.sigma is None:
            return None
        return {"center": float(self.center), "sigma": float(self.sigma)}

    def _estimate(self, observations: Sequence[Any], keep: Sequence[bool]) -> dict[str, Any]:
        kept = [y for y, k in zip(observations, keep, strict=True) if k]
        ranges = moving_ranges(list(observations), list(keep))
        if not ranges:
            raise DetectorInputError("the t chart's sigma needs 2 consecutive phase-I times")
        sigma = math.fsum(ranges) / len(ranges) / d2(2)
        if not sigma >= MIN_SIGMA:
            raise DetectorInputError("every phase-I time between events is the same")
        return {"center": math.fsum(kept) / len(kept), "sigma": sigma}

    def _stats(self, obs: Any, params: dict[str, Any], carry: dict[str, Any]) -> tuple[Stat, ...]:
        center, sigma = params["center"], params["sigma"]
        k = self.k_sigma
        return (Stat("t", obs, center, sigma, max(0.0, center - k * sigma), center + k * sigma),)


def rare_event_advice(chart: str, mean_events: float | None) -> str | None:
    """Why an np or c chart whose center is ``mean_events`` (np̄ or c̄) misleads, or ``None``.

    Below one expected event per lot the count is far from normal: the 3-sigma LCL is 0
    and, below c̄ ≈ 0.09, the UCL is under one event, so a single event signals and keeps
    the chart firing while events stay rare.

    >>> print(rare_event_advice("np", 0.04))
    np̄ = 0.04 is below 1 event per lot: a 3-sigma np chart is no 3-sigma chart here (UCL ≈ 0.64, one event signals); chart the units between events (chart: g) or the time between them (chart: t)
    >>> rare_event_advice("c", 4.0) is None, rare_event_advice("imr", 0.01) is None
    (True, True)
    """
    if chart not in ("np", "c") or mean_events is None or mean_events >= RARE_EVENT_MEAN:
        return None
    ucl = mean_events + 3.0 * math.sqrt(mean_events)
    single = ", one event signals" if ucl < 1.0 else ""
    symbol = "np̄" if chart == "np" else "c̄"
    return (
        f"{symbol} = {mean_events:.3g} is below 1 event per lot: a 3-sigma {chart} chart is "
        f"no 3-sigma chart here (UCL ≈ {ucl:.2f}{single}); chart the units between events "
        "(chart: g) or the time between them (chart: t)"
    )


register_chart(
    "g",
    GChart,
    kind="attribute",
    takes="value",
    description="g chart: units between rare events (geometric, probability limits)",
)
register_chart(
    "t",
    TChart,
    kind="attribute",
    takes="value",
    description="t chart: time between rare events (x^(1/3.6), individuals limits)",
)
