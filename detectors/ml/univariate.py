"""SPC-style scores, one chart per variable, as model detectors (for ``make`` and ``default``).

Each variable is standardised with the warm-up mean and standard deviation (learning on
from every point not flagged) and charted on its own; the per-variable p-values are
combined with Bonferroni, ``score = 1 - min(1, p * min_i p_i)``:

* ``ShewhartScore`` (``imr``): the individuals z, ``p_i = P(|N(0,1)| > |z_i|)``;
* ``EwmaScore`` (``ewma``): ``E = lam z + (1 - lam) E`` with the exact variance
  ``lam / (2 - lam) [1 - (1 - lam)^(2t)]``, two-sided normal p-value;
* ``CusumScore`` (``cusum``): the tabular CUSUM ``C+ = max(0, C+ + z - k)`` and
  ``C- = max(0, C- - z - k)``; ``p_i = min(1, 2 exp(-2 k max(C+, C-)))``, the exponential
  tail of the stationary CUSUM of a unit normal (an approximation; the benchmark
  measures the false-alarm rate it really gives).

Contributions are the squared per-variable statistics in sigma units.

>>> from datetime import datetime, timezone
>>> ts = datetime(2026, 1, 1, tzinfo=timezone.utc)
>>> chart = ShewhartScore(["x"], warmup=3)
>>> for x in (9.0, 10.0, 11.0):
...     _ = chart.evaluate(ts, {"x": x})
>>> round(chart.evaluate(ts, {"x": 13.0}).score, 6)      # z = 3: 1 - 0.0027
0.9973
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from linewatch.detectors.ml.model import Assessment, ModelDetector, bonferroni_score
from linewatch.detectors.ml.standardize import OnlineMoments

__all__ = ["CusumScore", "EwmaScore", "ShewhartScore"]

_ROOT2 = math.sqrt(2.0)


def _two_sided(z: float) -> float:
    return math.erfc(abs(z) / _ROOT2)


class _PerVariable(ModelDetector):
    _moments: OnlineMoments
    forget: float

    def _init_common(self, variables: Sequence[str], warmup: int, target_far: float) -> None:
        self._setup(variables, warmup, target_far)
        self._moments = OnlineMoments(len(self._names), self.forget)

    def _warm(self, values: list[float]) -> None:
        self._moments.learn(values)

    def _calibrate(self) -> None:
        pass

    def _learn(self, values: list[float], alarm: bool) -> None:
        if not alarm:
            self._moments.learn(values)


class ShewhartScore(_PerVariable):
    """Individuals (Shewhart) z of each variable."""

    model_name: ClassVar[str] = "imr"

    def __init__(
        self,
        variables: Sequence[str],
        warmup: int = 200,
        target_far: float = 0.0027,
        forget: float = 0.0,
    ) -> None:
        self.variables = tuple(variables)
        self.warmup = warmup
        self.target_far = target_far
        self.forget = forget
        self._init_common(variables, warmup, target_far)

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        return [{"variables": ("a", "b", "c"), "warmup": 30}]

    def _assess(self, values: list[float]) -> Assessment:
        z = self._moments.standardise(values)
        score = bonferroni_score([_two_sided(zi) for zi in z])
        contributions = [zi * zi for zi in z]

        def commit(alarm: bool) -> None:
            self._learn(values, alarm)

        return Assessment(score, max(abs(zi) for zi in z), contributions, commit)

    def _model_state(self) -> dict[str, Any]:
        return {"moments": self._moments.to_state()}

    def _set_model_state(self, state: Mapping[str, Any]) -> None:
        self._moments.set_state(state["moments"])


class EwmaScore(_PerVariable):
    """EWMA of each standardised variable, exact time-varying variance."""

    model_name: ClassVar[str] = "ewma"

    def __init__(
        self,
        variables: Sequence[str],
        lam: float = 0.2,
        warmup: int = 200,
        target_far: float = 0.0027,
        forget: float = 0.0,
    ) -> None:
        if not 0.0 < lam <= 1.0:
            raise ValueError(f"lam must be in (0, 1], got {lam}")
        self.variables = tuple(variables)
        self.lam = lam
        self.warmup = warmup
        self.target_far = target_far
        self.forget = forget
        self._init_common(variables, warmup, target_far)
        self._e = [0.0] * len(self._names)
        self._t = 0

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        return [{"variables": ("a", "b", "c"), "lam": 0.3, "warmup": 30}]

    def _assess(self, values: list[float]) -> Assessment:
        lam = self.lam
        z = self._moments.standardise(values)
        e = [lam * zi + (1.0 - lam) * ei for zi, ei in zip(z, self._e, strict=True)]
        t = self._t + 1
        sd = math.sqrt(lam / (2.0 - lam) * (1.0 - (1.0 - lam) ** (2 * t)))
        scaled = [ei / sd for ei in e]
        score = bonferroni_score([_two_sided(s) for s in scaled])

        def commit(alarm: bool) -> None:
            self._e = e
            self._t = t
            self._learn(values, alarm)

        return Assessment(score, max(abs(s) for s in scaled), [s * s for s in scaled], commit)

    def _model_state(self) -> dict[str, Any]:
        return {"moments": self._moments.to_state(), "e": list(self._e), "t": self._t}

    def _set_model_state(self, state: Mapping[str, Any]) -> None:
        self._moments.set_state(state["moments"])
        self._e = [float(v) for v in state["e"]]
        self._t = int(state["t"])


class CusumScore(_PerVariable):
    """Two-sided tabular CUSUM of each standardised variable (reference ``k`` sigmas)."""

    model_name: ClassVar[str] = "cusum"

    def __init__(
        self,
        variables: Sequence[str],
        k: float = 0.5,
        warmup: int = 200,
        target_far: float = 0.0027,
        forget: float = 0.0,
    ) -> None:
        if k <= 0.0:
            raise ValueError(f"k must be positive, got {k}")
        self.variables = tuple(variables)
        self.k = k
        self.warmup = warmup
        self.target_far = target_far
        self.forget = forget
        self._init_common(variables, warmup, target_far)
        self._upper = [0.0] * len(self._names)
        self._lower = [0.0] * len(self._names)

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        return [{"variables": ("a", "b", "c"), "k": 0.75, "warmup": 30}]

    def _assess(self, values: list[float]) -> Assessment:
        k = self.k
        z = self._moments.standardise(values)
        upper = [max(0.0, c + zi - k) for c, zi in zip(self._upper, z, strict=True)]
        lower = [max(0.0, c - zi - k) for c, zi in zip(self._lower, z, strict=True)]
        sums = [max(u, lo) for u, lo in zip(upper, lower, strict=True)]
        score = bonferroni_score([min(1.0, 2.0 * math.exp(-2.0 * k * s)) for s in sums])

        def commit(alarm: bool) -> None:
            self._upper = upper
            self._lower = lower
            self._learn(values, alarm)

        return Assessment(score, max(sums), [s * s for s in sums], commit)

    def _model_state(self) -> dict[str, Any]:
        return {
            "moments": self._moments.to_state(),
            "upper": list(self._upper),
            "lower": list(self._lower),
        }

    def _set_model_state(self, state: Mapping[str, Any]) -> None:
        self._moments.set_state(state["moments"])
        self._upper = [float(v) for v in state["upper"]]
        self._lower = [float(v) for v in state["lower"]]
