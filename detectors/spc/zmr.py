"""Z-MR (short-run) chart: each value standardised by its part number's target and sigma.

``z = (x - target[part]) / sigma[part]`` is plotted on a chart with center 0 and limits
``±k_sigma``; the moving range of consecutive z (across parts) on one with center d2(2),
limits ``d2(2) ± k_sigma·d3(2)`` (lower clipped at 0), since z has unit sigma.

Targets and sigmas are given per part (``parts={"PN-1": (target, sigma)}``), or estimated
from ``phase1`` observations per part: the target as the part's mean, sigma by
``sigma_method``: ``"by_part"`` (the part's own average moving range of consecutive values
of that part over d2(2); every part needs two values) or ``"pooled"`` (all parts' moving
ranges averaged together, one sigma for all). A part with neither is an input error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from linewatch.detectors.base import MIN_SIGMA, DetectorInputError, Observation, finite
from linewatch.detectors.registry import register_chart
from linewatch.detectors.spc.chart import PhaseIChart, Stat
from linewatch.detectors.spc.constants import d2, d3
from linewatch.detectors.spc.rules import RuleSet

__all__ = ["ZMRChart"]


class ZMRChart(PhaseIChart):
    """Short-run Z-MR chart; observations are ``{"value": x, "part": "PN-1"}``.

    >>> from datetime import datetime, timezone
    >>> ts = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> chart = ZMRChart(parts={"A": (10.0, 0.5), "B": (20.0, 2.0)})
    >>> [p.value for p in chart.update(ts, {"value": 11.0, "part": "A"}).points]
    [2.0]
    >>> [p.value for p in chart.update(ts, {"value": 19.0, "part": "B"}).points]
    [-0.5, 2.5]
    """

    charts: ClassVar[tuple[str, ...]] = ("z", "moving_range")

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        """Settings the generic checks run this chart with."""
        return [
            {"phase1": 30, "rules": RuleSet.nelson()},
            {"parts": {"PN-1": (10.0, 0.5), "PN-2": (50.0, 2.0), "PN-3": (3.0, 0.1)}},
        ]

    dispersion_charts: ClassVar[frozenset[str]] = frozenset({"moving_range"})
    exclusion_charts: ClassVar[frozenset[str] | None] = frozenset({"z"})

    def __init__(
        self,
        phase1: int = 20,
        parts: Mapping[str, Sequence[float]] | None = None,
        sigma_method: str = "by_part",
        k_sigma: float = 3.0,
        rules: RuleSet | None = None,
        dispersion_rules: RuleSet | None = None,
        phase1_passes: int = 0,
    ) -> None:
        if phase1 < 2:
            raise ValueError(f"phase1 must be at least 2, got {phase1}")
        if sigma_method not in ("by_part", "pooled"):
            raise ValueError(f"sigma_method must be 'by_part' or 'pooled', got {sigma_method!r}")
        for part, (_, sigma) in (parts or {}).items():
            if not sigma > 0:
                raise ValueError(f"sigma of part {part!r} must be positive, got {sigma}")
        self.phase1 = phase1
        self.parts = parts
        self.sigma_method = sigma_method
        self.k_sigma = k_sigma
        self.rules = rules
        self.dispersion_rules = dispersion_rules
        self.phase1_passes = phase1_passes
        self._init_state()

    def _check(self, x: Observation) -> list[Any]:
        if not isinstance(x, Mapping) or "value" not in x or "part" not in x:
            raise DetectorInputError(f"expected {{'value': x, 'part': 'PN'}}, got {x!r}")
        part: Any = x["part"]
        if not isinstance(part, str) or not part:
            raise DetectorInputError(f"part must be a non-empty string, got {part!r}")
        return [finite(x["value"], "value"), part]

    def _known(self) -> dict[str, Any] | None:
        if self.parts is None:
            return None
        return {"parts": {p: [float(t), float(s)] for p, (t, s) in self.parts.items()}}

    def _estimate(self, observations: Sequence[Any], keep: Sequence[bool]) -> dict[str, Any]:
        by_part: dict[str, list[tuple[float, bool]]] = {}
        for (value, part), kept in zip(observations, keep, strict=True):
            by_part.setdefault(part, []).append((value, kept))
        mrs: dict[str, list[float]] = {}
        means: dict[str, float] = {}
        for part, seq in by_part.items():
            values = [v for v, k in seq if k]
            if values:
                means[part] = math.fsum(values) / len(values)
            mrs[part] = [
                abs(seq[i][0] - seq[i - 1][0])
                for i in range(1, len(seq))
                if seq[i][1] and seq[i - 1][1]
            ]
        pooled_mrs = [r for part_mrs in mrs.values() for r in part_mrs]
        params: dict[str, list[float]] = {}
        for part, mean in means.items():
            ranges = pooled_mrs if self.sigma_method == "pooled" else mrs[part]
            if not ranges:
                raise DetectorInputError(
                    f"part {part!r} needs at least 2 phase-I values to estimate its sigma"
                )
            sigma = (math.fsum(ranges) / len(ranges)) / d2(2)
            if not sigma >= MIN_SIGMA:
                raise DetectorInputError(f"part {part!r} has sigma {sigma!r} (constant values?)")
            params[part] = [mean, sigma]
        return {"parts": params}

    def _new_carry(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"previous": None}

    def _stats(self, obs: Any, params: dict[str, Any], carry: dict[str, Any]) -> tuple[Stat, ...]:
        value, part = obs
        known = params["parts"].get(part)
        if known is None:
            raise DetectorInputError(
                f"part {part!r} has no target and sigma (not in phase I and not configured)"
            )
        z = (value - known[0]) / known[1]
        previous = carry["previous"]
        carry["previous"] = z
        k = self.k_sigma
        mr_center, mr_sigma = d2(2), d3(2)
        return (
            Stat("z", z, 0.0, 1.0, -k, k),
            Stat(
                "moving_range",
                math.nan if previous is None else abs(z - previous),
                mr_center,
                mr_sigma,
                max(0.0, mr_center - k * mr_sigma),
                mr_center + k * mr_sigma,
            ),
        )


register_chart(
    "zmr",
    ZMRChart,
    kind="variables",
    takes="parts",
    columns=("part", "value"),
    sigma_methods=("by_part", "pooled"),
    description="Short-run Z-MR: values standardised per part number",
)
