"""The default equipment model: MEWMA and Hotelling's T² on one whitening, combined.

The vector is standardised and whitened with the symmetric inverse square root of the
in-control correlation matrix R (ZCA whitening): ``y = R^(-1/2) D^-1 (x - mean)``, so that
``|y|² = u' R^-1 u`` with ``u`` the standardised vector. Two statistics share it:

* Hotelling's T² on the individual vector, ``|y|²`` (the SPC chart: large shifts,
  variance increases, correlation breaks in one point);
* MEWMA (Lowry et al. 1992) on the whitened vector, ``Y_t = lam y_t + (1 - lam) Y_{t-1}``,
  ``|Y_t|² / c_t`` with the exact ``c_t = lam / (2 - lam) [1 - (1 - lam)^(2t)]`` (small
  sustained shifts and drifts, which T² misses). Equal to ``Z' R^-1 Z / c_t`` of mewma.py.

Both are chi-square(p) in control; **score** ``= 1 - min(1, 2 min(p_T², p_MEWMA))``
(Bonferroni). **Contributions** are the squared whitened components of the more
significant statistic (``y_i²`` or ``Y_i² / c_t``): non-negative, they sum to the
statistic, and ZCA whitening keeps component i closest to variable i, so a shift in one
parameter shows mostly in its own component.

The fast path: one matrix-vector product a sample (``B x - B mean``, B = R^(-1/2) D^-1
folded at each refit), and deferred learning: points not flagged are buffered and merged
into the moments every ``refit_every`` judged points, when B is refreshed (the whitened
EWMA vector, kept divided by lam, carries over). The buffer is part of the state.

>>> from datetime import datetime, timezone
>>> ts = datetime(2026, 1, 1, tzinfo=timezone.utc)
>>> model = EquipmentModel(["a", "b"], lam=0.5, warmup=4)
>>> for a, b in ((1.0, 2.0), (-1.0, 2.0), (1.0, -2.0), (-1.0, -2.0)):
...     _ = model.evaluate(ts, {"a": a, "b": b})
>>> result = model.evaluate(ts, {"a": 3.0, "b": 0.0})
>>> round(result.statistic, 6)     # T² = (3 / 1.1547)² = 6.75 = the MEWMA's, as in mewma.py
6.75
>>> {k: round(v, 6) for k, v in result.contributions.items()}
{'a': 6.75, 'b': 0.0}
>>> round(result.score, 6)         # 1 - 2 exp(-6.75 / 2)
0.931564
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

import numpy as np
from scipy import special

from linewatch.detectors.base import Observation
from linewatch.detectors.ml.model import Assessment, ModelDetector
from linewatch.detectors.ml.result import ModelEvaluation
from linewatch.detectors.ml.standardize import OnlineMoments

__all__ = ["EquipmentModel", "chi2_sf", "inverse_sqrt"]


def chi2_sf(df: int, x: float) -> float:
    """Chi-square survival function; closed form for even ``df`` (faster than scipy's call).

    >>> round(chi2_sf(2, 6.75), 9), round(chi2_sf(4, 9.4877), 6), round(chi2_sf(3, 7.8147), 6)
    (0.034218118, 0.05, 0.05)
    """
    if df % 2 or df > 40:
        return float(special.chdtrc(df, x))
    half = 0.5 * x
    term = total = 1.0
    for j in range(1, df // 2):
        term *= half / j
        total += term
    return math.exp(-half) * total


def inverse_sqrt(matrix: list[list[float]]) -> np.ndarray:
    """Symmetric (pseudo-)inverse square root; directions of ~zero variance get weight 0.

    >>> inverse_sqrt([[4.0, 0.0], [0.0, 0.25]]).tolist()
    [[0.5, 0.0], [0.0, 2.0]]
    """
    values, vectors = np.linalg.eigh(np.array(matrix, dtype=float))
    floor = 1e-10 * max(float(values.max()), 1e-300)
    scale = np.where(values > floor, 1.0 / np.sqrt(np.maximum(values, floor)), 0.0)
    result: np.ndarray = (vectors * scale) @ vectors.T
    return result


class EquipmentModel(ModelDetector):
    """MEWMA + Hotelling T², Bonferroni-combined (see the module text)."""

    model_name: ClassVar[str] = "equipment"

    def __init__(
        self,
        variables: Sequence[str],
        lam: float = 0.1,
        warmup: int = 200,
        target_far: float = 0.0027,
        refit_every: int = 50,
    ) -> None:
        if not 0.0 < lam < 1.0:
            raise ValueError(f"lam must be in (0, 1), got {lam}")
        if refit_every < 1:
            raise ValueError(f"refit_every must be at least 1, got {refit_every}")
        self.variables = tuple(variables)
        self.lam = lam
        self.warmup = warmup
        self.target_far = target_far
        self.refit_every = refit_every
        self._setup(variables, warmup, target_far)
        p = len(self._names)
        self._moments = OnlineMoments(p)
        # The whitening is a numpy matrix (one product a sample); the p-vectors are lists.
        self._whiten = np.zeros((p, p))
        self._offset = np.zeros(p)
        self._ewma = [0.0] * p
        self._t = 0
        self._buffer: list[list[float]] = []
        self._block = 0

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        return [{"variables": ("a", "b", "c"), "warmup": 30, "refit_every": 7}]

    def _warm(self, values: list[float]) -> None:
        self._moments.learn(values)

    def _refit(self) -> None:
        self._moments.learn_batch(self._buffer)
        self._buffer = []
        self._block = 0
        self._whiten = inverse_sqrt(self._moments.correlation()) / np.array(self._moments.std())
        self._offset = self._whiten @ np.array(self._moments.mean)

    def _calibrate(self) -> None:
        self._refit()

    def _compute(self, values: list[float]) -> tuple[float, float, list[float], list[float], int]:
        """Score, statistic, contributions, the next EWMA vector and step; no side effects."""
        lam = self.lam
        keep = 1.0 - lam
        # One numpy product; the rest on p floats is cheaper in plain Python.
        y: list[float] = (self._whiten @ values - self._offset).tolist()
        # The EWMA is carried divided by lam (one operation less a sample).
        ewma = [yi + keep * ei for yi, ei in zip(y, self._ewma, strict=True)]
        t = self._t + 1
        scale = lam * lam / (lam / (2.0 - lam) * (1.0 - keep ** (2 * t)))
        shewhart = [yi * yi for yi in y]
        t2 = sum(shewhart)
        m2 = sum([ei * ei for ei in ewma]) * scale
        # Both are chi-square(p): the larger statistic has the smaller p-value.
        if m2 >= t2:
            statistic, contributions = m2, [ei * ei * scale for ei in ewma]
        else:
            statistic, contributions = t2, shewhart
        score = 1.0 - min(1.0, 2.0 * chi2_sf(len(values), statistic))
        return score, statistic, contributions, ewma, t

    def _advance(self, values: list[float], ewma: list[float], t: int, alarm: bool) -> None:
        self._ewma = ewma
        self._t = t
        if not alarm:
            self._buffer.append(values)
        self._block += 1
        if self._block >= self.refit_every:
            self._refit()

    def _assess(self, values: list[float]) -> Assessment:
        score, statistic, contributions, ewma, t = self._compute(values)

        def commit(alarm: bool) -> None:
            self._advance(values, ewma, t, alarm)

        return Assessment(score, statistic, contributions, commit)

    def _step(self, ts: datetime, x: Observation, learn: bool) -> ModelEvaluation:
        # The per-sample hot path, inlined (the generic frame costs a closure a sample).
        index = self._seen
        if index < self.warmup:
            return super()._step(ts, x, learn)
        values = self._values(x)
        score, statistic, contributions, ewma, t = self._compute(values)
        alarm = score > self._threshold
        if learn:
            self._advance(values, ewma, t, alarm)
            self._seen += 1
        return ModelEvaluation(
            ts,
            self._label,
            index,
            score,
            self._threshold,
            alarm,
            statistic,
            dict(zip(self._names, contributions, strict=True)),
        )

    def _model_state(self) -> dict[str, Any]:
        return {
            "moments": self._moments.to_state(),
            "whiten": self._whiten.tolist(),
            "offset": self._offset.tolist(),
            "ewma": list(self._ewma),
            "t": self._t,
            "buffer": [list(r) for r in self._buffer],
            "block": self._block,
        }

    def _set_model_state(self, state: Mapping[str, Any]) -> None:
        self._moments.set_state(state["moments"])
        self._whiten = np.array(state["whiten"], dtype=float)
        self._offset = np.array(state["offset"], dtype=float)
        self._ewma = [float(v) for v in state["ewma"]]
        self._t = int(state["t"])
        self._buffer = [[float(v) for v in row] for row in state["buffer"]]
        self._block = int(state["block"])
