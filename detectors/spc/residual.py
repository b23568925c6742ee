"""AR(1) residual chart: an individuals chart of what an AR(1) model does not predict.

For an autocorrelated stream (lag-1 autocorrelation well above 0) Shewhart limits are too
narrow. Phase I fits ``xₜ − μ = φ (xₜ₋₁ − μ) + eₜ`` (:func:`~.autocorr.ar1_fit`), and
phase II charts the residuals ``eₜ = xₜ − μ − φ (xₜ₋₁ − μ)``, which are independent when
the model holds, against ``0 ± k_sigma·σₑ`` with the usual rules (Montgomery, §10.4).
The first value of a judged sequence has no predecessor: its residual is not plotted.
``center``, ``sigma`` (of the residuals) and ``phi`` all given start in phase II.

>>> from datetime import datetime, timezone
>>> ts = datetime(2026, 1, 1, tzinfo=timezone.utc)
>>> chart = Ar1ResidualChart(center=10.0, sigma=1.0, phi=0.5)
>>> chart.update(ts, 12.0).points          # no predecessor yet
()
>>> [(p.chart, p.value, p.ucl) for p in chart.update(ts, 14.0).points]   # 14 - 10 - 0.5·2
[('residual', 3.0, 3.0)]
>>> [s.rule for s in chart.update(ts, 8.0).signals]   # 8 - 10 - 0.5·4 = -4, beyond -3
['nelson1']
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from linewatch.detectors.base import MIN_SIGMA, DetectorInputError, Observation, finite
from linewatch.detectors.registry import ChartOption, register_chart
from linewatch.detectors.spc.autocorr import ar1_fit
from linewatch.detectors.spc.chart import PhaseIChart, Stat
from linewatch.detectors.spc.rules import RuleSet

__all__ = ["Ar1ResidualChart"]


class Ar1ResidualChart(PhaseIChart):
    """Individuals chart of AR(1) residuals; observations are floats."""

    charts: ClassVar[tuple[str, ...]] = ("residual",)

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        """Settings the generic checks run this chart with."""
        return [
            {"phase1": 30, "rules": RuleSet.nelson()},
            {"center": 5.0, "sigma": 2.0, "phi": 0.6},
        ]

    def __init__(
        self,
        phase1: int = 50,
        k_sigma: float = 3.0,
        center: float | None = None,
        sigma: float | None = None,
        phi: float | None = None,
        rules: RuleSet | None = None,
        phase1_passes: int = 0,
    ) -> None:
        if phase1 < 3:
            raise ValueError(f"phase1 must be at least 3, got {phase1}")
        if not 0.0 < k_sigma <= 10.0:
            raise ValueError(f"k_sigma must be in (0, 10], got {k_sigma}")
        if phi is not None and not -1.0 < phi < 1.0:
            raise ValueError(f"phi must be in (-1, 1) (a stationary AR(1)), got {phi}")
        if sigma is not None and not sigma >= MIN_SIGMA:
            raise ValueError(f"sigma must be positive, got {sigma}")
        self.phase1 = phase1
        self.k_sigma = k_sigma
        self.center = center
        self.sigma = sigma
        self.phi = phi
        self.rules = rules
        self.phase1_passes = phase1_passes
        self._init_state()

    def _check(self, x: Observation) -> float:
        if isinstance(x, (Mapping, str, bytes, Sequence)):
            raise DetectorInputError(f"{type(self).__name__} takes one number, got {x!r}")
        return finite(x)

    def _known(self) -> dict[str, Any] | None:
        if self.center is None or self.sigma is None or self.phi is None:
            return None
        return {"center": float(self.center), "sigma": float(self.sigma), "phi": float(self.phi)}

    def _estimate(self, observations: Sequence[Any], keep: Sequence[bool]) -> dict[str, Any]:
        # Excluded points break the series: fit on the kept values in their order.
        kept = [float(x) for x, k in zip(observations, keep, strict=True) if k]
        if len(kept) < 3:
            raise DetectorInputError(f"an AR(1) fit needs 3 kept phase-I values, got {len(kept)}")
        fit = ar1_fit(kept)
        center = float(self.center) if self.center is not None else fit.mean
        phi = float(self.phi) if self.phi is not None else fit.phi
        sigma = float(self.sigma) if self.sigma is not None else fit.sigma
        if not sigma >= MIN_SIGMA:
            raise DetectorInputError(
                f"phase I gives residual sigma = {sigma!r}; are all values equal?"
                f" (sigma must be >= {MIN_SIGMA!r})"
            )
        return {"center": center, "sigma": sigma, "phi": phi}

    def _new_carry(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"previous": None}

    def _stats(self, obs: Any, params: dict[str, Any], carry: dict[str, Any]) -> tuple[Stat, ...]:
        previous = carry["previous"]
        carry["previous"] = obs
        center, sigma, phi, k = params["center"], params["sigma"], params["phi"], self.k_sigma
        residual = math.nan if previous is None else obs - center - phi * (previous - center)
        return (Stat("residual", residual, 0.0, sigma, -k * sigma, k * sigma),)


register_chart(
    "ar1",
    Ar1ResidualChart,
    kind="variables",
    takes="value",
    description="Residuals of an AR(1) fit (autocorrelated values) on an individuals chart",
    options=(ChartOption("phi", None, "AR(1) coefficient (fitted in phase I when not given)"),),
)
