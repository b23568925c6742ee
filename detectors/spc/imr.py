"""I-MR: an individuals chart with its moving-range chart (span 2).

Individuals: center x-bar (or the given ``center``), limits ``center ± k_sigma·sigma``.
Moving range: center ``d2(2)·sigma``, limits ``(d2(2) ± k_sigma·d3(2))·sigma`` with the lower
limit clipped at 0 (with sigma = MR-bar/d2 the upper limit is D4·MR-bar = 3.267·MR-bar).
The moving-range chart starts at the second observation: its points carry the index of the
observation that completes them, so index 0 exists only on the individuals chart.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from detectors.base import DetectorInputError, Observation, finite
from detectors.spc.chart import PhaseIChart, Stat
from detectors.spc.constants import d2, d3
from detectors.spc.estimators import median_mr_sigma, mr_sigma, overall_sigma
from detectors.spc.rules import RuleSet

__all__ = ["IMR_SIGMA_METHODS", "IMRChart", "IndividualsChart"]

IMR_SIGMA_METHODS = ("mr", "median_mr", "overall")

_NAN = math.nan


class IMRChart(PhaseIChart):
    """Individuals and moving-range chart; observations are floats.

    Parameters: ``phase1`` observations estimate the center and sigma (by ``sigma_method``:
    ``"mr"`` MR-bar/d2(2), ``"median_mr"``, ``"overall"``), unless ``center`` and ``sigma``
    are given, or ``limits`` gives ``{chart: (center, lcl, ucl)}`` for both charts.
    ``rules`` applies to the individuals chart, ``dispersion_rules`` to the moving ranges
    (test 1 only unless asked). ``phase1_passes``: times to drop phase-I points beyond the
    limits and re-estimate. ``constants``: ``"table"`` or ``"exact"`` d2/d3.

    >>> from datetime import datetime, timezone
    >>> ts = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> chart = IMRChart(phase1=4)
    >>> [len(chart.update(ts, x).points) for x in [10.0, 12.0, 11.0]]
    [0, 0, 0]
    >>> phase1 = chart.update(ts, 13.0)
    >>> [(p.chart, p.index, p.value) for p in phase1.points[:3]]
    [('individuals', 0, 10.0), ('individuals', 1, 12.0), ('moving_range', 1, 2.0)]
    >>> round(chart.params["center"], 3), round(chart.params["sigma"], 3)
    (11.5, 1.478)
    >>> [s.rule for s in chart.update(ts, 20.0).signals]
    ['nelson1', 'nelson1']
    """

    charts: ClassVar[tuple[str, ...]] = ("individuals", "moving_range")
    dispersion_charts: ClassVar[frozenset[str]] = frozenset({"moving_range"})
    exclusion_charts: ClassVar[frozenset[str] | None] = frozenset({"individuals"})

    def __init__(
        self,
        phase1: int = 20,
        k_sigma: float = 3.0,
        sigma_method: str = "mr",
        center: float | None = None,
        sigma: float | None = None,
        limits: Mapping[str, Sequence[float]] | None = None,
        rules: RuleSet | None = None,
        dispersion_rules: RuleSet | None = None,
        phase1_passes: int = 0,
        constants: str = "table",
    ) -> None:
        if phase1 < 2:
            raise ValueError(f"phase1 must be at least 2, got {phase1}")
        if sigma_method not in IMR_SIGMA_METHODS:
            raise ValueError(f"sigma_method must be one of {IMR_SIGMA_METHODS}, got {sigma_method!r}")
        if not k_sigma > 0:
            raise ValueError(f"k_sigma must be positive, got {k_sigma}")
        if sigma is not None and not sigma > 0:
            raise ValueError(f"sigma must be positive, got {sigma}")
        if limits is not None and set(limits) != set(self.charts):
            raise ValueError(f"limits must give (center, lcl, ucl) for {self.charts}")
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
        self._d2 = d2(2, constants)
        self._d3 = d3(2, constants)
        self._init_state()

    def _check(self, x: Observation) -> float:
        if isinstance(x, (Mapping, str, bytes, Sequence)):
            raise DetectorInputError(f"{type(self).__name__} takes one number, got {x!r}")
        return finite(x)

    def _known(self) -> dict[str, Any] | None:
        if self.limits is not None:
            return {"given": {c: [float(v) for v in self.limits[c]] for c in self.charts}}
        if self.center is not None and self.sigma is not None:
            return {"center": float(self.center), "sigma": float(self.sigma)}
        return None

    def _estimate(self, observations: Sequence[Any], keep: Sequence[bool]) -> dict[str, Any]:
        kept = [x for x, k in zip(observations, keep, strict=True) if k]
        center = float(self.center) if self.center is not None else math.fsum(kept) / len(kept)
        if self.sigma is not None:
            sigma = float(self.sigma)
        elif self.sigma_method == "mr":
            sigma = mr_sigma(observations, keep, self.constants)
        elif self.sigma_method == "median_mr":
            sigma = median_mr_sigma(observations, keep)
        else:
            sigma = overall_sigma(kept)
        if not sigma > 0:
            raise DetectorInputError(f"phase I gives sigma = {sigma!r}; are all values equal?")
        return {"center": center, "sigma": sigma}

    def _new_carry(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"previous": None}

    def _stats(self, obs: Any, params: dict[str, Any], carry: dict[str, Any]) -> tuple[Stat, ...]:
        previous = carry["previous"]
        carry["previous"] = obs
        mr = _NAN if previous is None else abs(obs - previous)
        given = params.get("given")
        if given is not None:
            return (_given_stat("individuals", obs, given, self.k_sigma),
                    _given_stat("moving_range", mr, given, self.k_sigma))
        center, sigma, k = params["center"], params["sigma"], self.k_sigma
        mr_center = self._d2 * sigma
        mr_sigma_ = self._d3 * sigma
        return (
            Stat("individuals", obs, center, sigma, center - k * sigma, center + k * sigma),
            Stat("moving_range", mr, mr_center, mr_sigma_,
                 max(0.0, mr_center - k * mr_sigma_), mr_center + k * mr_sigma_),
        )


def _given_stat(chart: str, value: float, given: Mapping[str, Sequence[float]],
                k_sigma: float) -> Stat:
    center, lcl, ucl = given[chart]
    return Stat(chart, value, center, (ucl - lcl) / (2.0 * k_sigma), lcl, ucl)


#: The name the pipeline has used since the placeholder; same class.
IndividualsChart = IMRChart
