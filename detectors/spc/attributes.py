"""Attribute charts p, np, c, u and Laney's p' and u', with per-point limits.

Observations are mappings ``{"count": c, "size": n}``: for p and np, c nonconforming items
out of n inspected (whole numbers, 0 <= c <= n, n >= 1); for c and u, c defects found on n
units (n > 0, may be fractional, e.g. square metres; c ignores it). Lower limits are
clipped at 0, upper limits of p at 1 and of np at n.

=========  ===========  ===================================  =============================
chart      plotted      center                               sigma of the point
=========  ===========  ===================================  =============================
p          c/n          p-bar = sum c / sum n                sqrt(p-bar(1-p-bar)/n)
np         c            n p-bar                              sqrt(n p-bar (1-p-bar))
c          c            c-bar = mean c                       sqrt(c-bar)
u          c/n          u-bar = sum c / sum n                sqrt(u-bar/n)
laney_p    c/n          p-bar                                sigma_p(n) * sigma_z
laney_u    c/n          u-bar                                sigma_u(n) * sigma_z
=========  ===========  ===================================  =============================

Laney (2002): z_i = (x_i - center)/sigma_i over phase I and sigma_z = MR-bar(z)/d2(2),
the moving ranges of consecutive kept z (an excluded subgroup drops both its MRs).
sigma_z > 1 widens the limits for over-dispersed large-n data, < 1 narrows them.

Implausible sizes (p, np, u and Laney): a lot larger than :data:`SIZE_RATIO` (1000) times
the median size of the phase-I lots would dominate p-bar or u-bar (one lot of 10^29 items
drives p-bar to ~0 and every later lot beyond its limits). Such phase-I lots are excluded
from the estimates (listed in ``excluded``, still plotted), and the limit ``max_size``
(1000 x that median, kept in ``params``) refuses later lots beyond it with
DetectorInputError ("implausible size"), before they change any state.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from linewatch.detectors.base import DetectorInputError, Observation, finite
from linewatch.detectors.registry import ChartOption, register_chart
from linewatch.detectors.spc.chart import PhaseIChart, Stat
from linewatch.detectors.spc.constants import d2
from linewatch.detectors.spc.estimators import moving_ranges
from linewatch.detectors.spc.rules import RuleSet

__all__ = [
    "SIZE_RATIO",
    "CChart",
    "LaneyPChart",
    "LaneyUChart",
    "NPChart",
    "PChart",
    "UChart",
    "check_counts",
]

#: A lot larger than this times the median phase-I size is implausible (see above).
SIZE_RATIO = 1000.0


def check_counts(x: Observation, proportion: bool, need_size: bool = True) -> list[float]:
    """``[count, size]`` validated; raises DetectorInputError naming what is wrong."""
    if not isinstance(x, Mapping):
        raise DetectorInputError(f"expected {{'count': c, 'size': n}}, got {x!r}")
    if "count" not in x or (need_size and "size" not in x):
        raise DetectorInputError(f"expected keys 'count' and 'size', got {sorted(x)!r}")
    count = finite(x["count"], "count")
    size = finite(x["size"], "size") if "size" in x else 1.0
    if count < 0 or count != math.floor(count):
        raise DetectorInputError(f"count must be a whole number >= 0, got {x['count']!r}")
    if not size > 0:
        raise DetectorInputError(f"size must be positive, got {x.get('size')!r}")
    if proportion:
        if size != math.floor(size):
            raise DetectorInputError(f"size (items inspected) must be whole, got {x['size']!r}")
        if count > size:
            raise DetectorInputError(
                f"nonconforming count {x['count']!r} exceeds the {x['size']!r} inspected"
            )
    return [count, size]


class _AttributeChart(PhaseIChart):
    chart_name: ClassVar[str] = ""
    proportion: ClassVar[bool] = True  # binomial (p, np) rather than Poisson (c, u)
    laney: ClassVar[bool] = False

    def __init__(
        self,
        phase1: int = 25,
        k_sigma: float = 3.0,
        center: float | None = None,
        limits: Mapping[str, Sequence[float]] | None = None,
        rules: RuleSet | None = None,
        phase1_passes: int = 0,
    ) -> None:
        _validate(phase1, k_sigma, limits, self.charts)
        self.phase1 = phase1
        self.k_sigma = k_sigma
        self.center = center
        self.limits = limits
        self.rules = rules
        self.phase1_passes = phase1_passes
        self._init_state()

    def _check(self, x: Observation) -> list[float]:
        obs = check_counts(x, self.proportion, self.chart_name != "c")
        cap = None if self._params is None else self._params.get("max_size")
        if cap is not None and obs[1] > cap:
            raise DetectorInputError(
                f"implausible size: {obs[1]!r} is more than {SIZE_RATIO:g} times the median "
                f"size of the phase-I lots (at most {cap!r})"
            )
        return obs

    def _max_size(self, observations: Sequence[Any]) -> float | None:
        """``SIZE_RATIO`` times the median phase-I size; ``None`` for the c chart (no size)."""
        if self.chart_name == "c" or not observations:
            return None
        sizes = sorted(n for _, n in observations)
        mid = len(sizes) // 2
        median = sizes[mid] if len(sizes) % 2 else (sizes[mid - 1] + sizes[mid]) / 2.0
        return SIZE_RATIO * float(median)

    def _screen(self, observations: Sequence[Any]) -> list[bool]:
        cap = self._max_size(observations)
        return [cap is None or n <= cap for _, n in observations]

    def _known(self) -> dict[str, Any] | None:
        if self.limits is not None:
            return {"given": [float(v) for v in self.limits[self.chart_name]]}
        if self.center is not None and not self.laney:
            return {"center": _check_center(float(self.center), self.proportion)}
        return None

    def _estimate(self, observations: Sequence[Any], keep: Sequence[bool]) -> dict[str, Any]:
        cap = self._max_size(observations)
        screen = {} if cap is None else {"max_size": cap}
        if self.center is not None:
            return {"center": _check_center(float(self.center), self.proportion), **screen}
        kept = [o for o, k in zip(observations, keep, strict=True) if k]
        if not kept:
            raise DetectorInputError("no plausible phase-I lot to estimate the center from")
        total = math.fsum(c for c, _ in kept)
        if self.chart_name == "c":
            center = total / len(kept)
        else:
            center = total / math.fsum(n for _, n in kept)
        return {"center": _check_center(center, self.proportion), **screen}

    def _stats(self, obs: Any, params: dict[str, Any], carry: dict[str, Any]) -> tuple[Stat, ...]:
        count, size = obs
        value = count if self.chart_name in ("np", "c") else count / size
        given = params.get("given")
        if given is not None:
            center, lcl, ucl = given
            return (
                Stat(self.chart_name, value, center, (ucl - lcl) / (2.0 * self.k_sigma), lcl, ucl),
            )
        center, sigma = self._center_sigma(params, size)
        k = self.k_sigma
        upper = center + k * sigma
        if self.chart_name in ("p", "laney_p"):
            upper = min(upper, 1.0)
        elif self.chart_name == "np":
            upper = min(upper, size)
        return (Stat(self.chart_name, value, center, sigma, max(0.0, center - k * sigma), upper),)

    def _center_sigma(self, params: dict[str, Any], size: float) -> tuple[float, float]:
        center = params["center"]
        name = self.chart_name
        if name == "p":
            return center, math.sqrt(center * (1.0 - center) / size)
        if name == "np":
            return size * center, math.sqrt(size * center * (1.0 - center))
        if name == "c":
            return center, math.sqrt(center)
        return center, math.sqrt(center / size)


def _validate(
    phase1: int,
    k_sigma: float,
    limits: Mapping[str, Sequence[float]] | None,
    charts: tuple[str, ...],
) -> None:
    if phase1 < 2:
        raise ValueError(f"phase1 must be at least 2, got {phase1}")
    if not k_sigma > 0:
        raise ValueError(f"k_sigma must be positive, got {k_sigma}")
    if limits is not None and set(limits) != set(charts):
        raise ValueError(f"limits must give (center, lcl, ucl) for {charts}")


def _check_center(center: float, proportion: bool) -> float:
    if proportion and not 0.0 < center < 1.0:
        raise DetectorInputError(
            f"center proportion is {center!r}: limits need 0 < p-bar < 1 "
            "(phase I had no nonconforming items, or only nonconforming ones)"
        )
    if not proportion and not center > 0.0:
        raise DetectorInputError(f"center rate is {center!r}: phase I found no defects")
    return center


class PChart(_AttributeChart):
    """Fraction nonconforming, ``{"count": nonconforming, "size": inspected}``.

    >>> from datetime import datetime, timezone
    >>> ts = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> chart = PChart(center=0.1)
    >>> p = chart.update(ts, {"count": 5, "size": 100}).points[0]
    >>> p.value, p.center, round(p.ucl, 4), p.lcl
    (0.05, 0.1, 0.19, 0.01)
    """

    chart_name = "p"
    charts: ClassVar[tuple[str, ...]] = ("p",)

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        """Settings the generic checks run this chart with."""
        return [{"phase1": 25, "rules": RuleSet.nelson()}]


class NPChart(_AttributeChart):
    """Number nonconforming, ``{"count": nonconforming, "size": inspected}``."""

    chart_name = "np"
    charts: ClassVar[tuple[str, ...]] = ("np",)

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        """Settings the generic checks run this chart with."""
        return [{"phase1": 25, "phase1_passes": 1}]


class CChart(_AttributeChart):
    """Defects per inspection unit of constant size, ``{"count": defects}`` (size ignored).

    >>> from datetime import datetime, timezone
    >>> ts = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> p = CChart(center=16.0).update(ts, {"count": 29}).points[0]
    >>> p.center, p.lcl, p.ucl, p.rules
    (16.0, 4.0, 28.0, ('nelson1',))
    """

    chart_name = "c"
    charts: ClassVar[tuple[str, ...]] = ("c",)

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        """Settings the generic checks run this chart with."""
        return [{"phase1": 25}]

    proportion = False


class UChart(_AttributeChart):
    """Defects per unit, ``{"count": defects, "size": units}`` (units may be fractional)."""

    chart_name = "u"
    charts: ClassVar[tuple[str, ...]] = ("u",)

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        """Settings the generic checks run this chart with."""
        return [{"phase1": 25, "rules": RuleSet.western_electric()}]

    proportion = False


class _LaneyChart(_AttributeChart):
    laney = True

    def __init__(
        self,
        phase1: int = 25,
        k_sigma: float = 3.0,
        center: float | None = None,
        sigma_z: float | None = None,
        limits: Mapping[str, Sequence[float]] | None = None,
        rules: RuleSet | None = None,
        phase1_passes: int = 0,
    ) -> None:
        if sigma_z is not None and not sigma_z > 0:
            raise ValueError(f"sigma_z must be positive, got {sigma_z}")
        self.sigma_z = sigma_z
        super().__init__(phase1, k_sigma, center, limits, rules, phase1_passes)

    def _known(self) -> dict[str, Any] | None:
        if self.limits is None and self.center is not None and self.sigma_z is not None:
            return {
                "center": _check_center(float(self.center), self.proportion),
                "sigma_z": float(self.sigma_z),
            }
        return super()._known()

    def _estimate(self, observations: Sequence[Any], keep: Sequence[bool]) -> dict[str, Any]:
        estimated = super()._estimate(observations, keep)
        center = estimated["center"]
        screen = {"max_size": estimated["max_size"]}
        if self.sigma_z is not None:
            return {"center": center, "sigma_z": float(self.sigma_z), **screen}
        base = "p" if self.proportion else "u"
        zs = []
        for count, size in observations:
            sigma = (
                math.sqrt(center * (1.0 - center) / size)
                if base == "p"
                else math.sqrt(center / size)
            )
            zs.append((count / size - center) / sigma)
        mrs = moving_ranges(zs, keep)
        if not mrs:
            raise DetectorInputError("Laney's sigma_z needs at least 2 consecutive subgroups")
        sigma_z = (math.fsum(mrs) / len(mrs)) / d2(2)
        if not sigma_z > 0:
            raise DetectorInputError("Laney's sigma_z is 0: all phase-I proportions are equal")
        return {"center": center, "sigma_z": sigma_z, **screen}

    def _center_sigma(self, params: dict[str, Any], size: float) -> tuple[float, float]:
        center = params["center"]
        if self.proportion:
            sigma = math.sqrt(center * (1.0 - center) / size)
        else:
            sigma = math.sqrt(center / size)
        return center, sigma * params["sigma_z"]


class LaneyPChart(_LaneyChart):
    """Laney p' chart for over-dispersed proportions (large subgroups)."""

    chart_name = "laney_p"
    charts: ClassVar[tuple[str, ...]] = ("laney_p",)

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        """Settings the generic checks run this chart with."""
        return [{"phase1": 25, "phase1_passes": 1}]


class LaneyUChart(_LaneyChart):
    """Laney u' chart for over-dispersed rates (large subgroups)."""

    chart_name = "laney_u"
    charts: ClassVar[tuple[str, ...]] = ("laney_u",)

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        """Settings the generic checks run this chart with."""
        return [{"phase1": 25}]

    proportion = False


_COUNT_SIZE = ("count", "size")
_SIGMA_Z = ChartOption("sigma_z", None, "Laney: given sigma of the z values (default: estimated)")
register_chart(
    "p",
    PChart,
    kind="attribute",
    takes="counts",
    columns=_COUNT_SIZE,
    description="Proportion nonconforming, per-subgroup limits",
)
register_chart(
    "np",
    NPChart,
    kind="attribute",
    takes="counts",
    columns=_COUNT_SIZE,
    description="Number nonconforming, per-subgroup limits",
)
register_chart(
    "c",
    CChart,
    kind="attribute",
    takes="counts",
    columns=("count",),
    description="Count of defects per (equal) inspection unit",
)
register_chart(
    "u",
    UChart,
    kind="attribute",
    takes="counts",
    columns=_COUNT_SIZE,
    description="Defects per unit, per-subgroup limits",
)
register_chart(
    "laney-p",
    LaneyPChart,
    kind="attribute",
    takes="counts",
    columns=_COUNT_SIZE,
    options=(_SIGMA_Z,),
    description="Laney p' for over-dispersed proportions (large subgroups)",
)
register_chart(
    "laney-u",
    LaneyUChart,
    kind="attribute",
    takes="counts",
    columns=_COUNT_SIZE,
    options=(_SIGMA_Z,),
    description="Laney u' for over-dispersed rates (large subgroups)",
)
