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

from linewatch.detectors.base import Observation
from linewatch.detectors.ml.model import Assessment, ModelDetector
from linewatch.detectors.ml.result import ModelEvaluation
from linewatch.detectors.ml.standardize import OnlineMoments
from linewatch.detectors.ml.unrolled import chi2_tail, chi2_tail_loop, mewma_t2_kernel

__all__ = ["EquipmentModel", "chi2_sf", "inverse_sqrt"]


def chi2_sf(df: int, x: float) -> float:
    """Chi-square survival function; closed form for even ``df`` (faster than scipy's call).

    >>> round(chi2_sf(2, 6.75), 9), round(chi2_sf(4, 9.4877), 6), round(chi2_sf(3, 7.8147), 6)
    (0.034218118, 0.05, 0.05)
    """
    return chi2_tail_loop(df, x)


def inverse_sqrt(matrix: list[list[float]] | np.ndarray) -> np.ndarray:
    """Symmetric (pseudo-)inverse square root; directions of ~zero variance get weight 0.

    >>> inverse_sqrt([[4.0, 0.0], [0.0, 0.25]]).tolist()
    [[0.5, 0.0], [0.0, 2.0]]
    """
    values, vectors = np.linalg.eigh(np.asarray(matrix, dtype=float))
    floor = 1e-10 * max(float(np.maximum.reduce(values)), 1e-300)
    # p floats: plain Python beats four ufunc calls (sqrt and division round the same)
    scale = [1.0 / math.sqrt(v) if v > floor else 0.0 for v in values.tolist()]
    result: np.ndarray = (vectors * _array(scale)) @ vectors.T
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
        self._offset_list = [0.0] * p
        self._ewma = [0.0] * p
        self._t = 0
        # The unflagged points since the last refit, flat (one list.extend a sample, one
        # array at the refit); the state shows them as rows.
        self._buffer: list[float] = []
        self._block = 0
        self._kernel = mewma_t2_kernel(p)
        self._tail = chi2_tail(p)
        self._keep = 1.0 - lam
        self._lam2 = lam * lam
        self._ratio = lam / (2.0 - lam)
        self._steady_t, self._steady_scale = self._steady()

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        return [{"variables": ("a", "b", "c"), "warmup": 30, "refit_every": 7}]

    def _scale(self, t: int) -> float:
        """``1 / c_t`` times lam² (the EWMA is carried divided by lam)."""
        return self._lam2 / (self._ratio * (1.0 - self._keep ** (2 * t)))

    def _steady(self) -> tuple[int, float]:
        """The first t from which ``1 - (1 - lam)^(2t)`` rounds to 1, and the scale from then.

        ``(1 - lam)^(2t)`` falls with t, so once it is below half an ulp of 1 it stays
        there: the scale is one constant from that t on, the same float ``_scale`` gives.
        """
        keep = self._keep
        if keep**2 >= 1.0 - 1e-9:  # lam tiny: no constant within any sane t
            return 2**62, 0.0
        t = max(1, math.ceil(54.0 * math.log(2.0) / (-2.0 * math.log(keep))))
        while t > 1 and 1.0 - keep ** (2 * (t - 1)) == 1.0:
            t -= 1
        while 1.0 - keep ** (2 * t) != 1.0:
            t += 1
        return t, self._scale(t)

    def _warm(self, values: list[float]) -> None:
        self._moments.learn(values)

    def _refit(self) -> None:
        flat = self._buffer
        rows = np.fromiter(flat, float, len(flat)).reshape(-1, len(self._names))
        self._moments.learn_batch(rows)
        self._buffer = []
        self._block = 0
        correlation, std, mean = self._moments.correlation_std_mean()
        self._whiten = inverse_sqrt(correlation) / std
        self._offset = self._whiten @ mean
        self._offset_list = self._offset.tolist()

    def _calibrate(self) -> None:
        self._refit()

    def _compute(self, values: list[float]) -> tuple[float, float, list[float], list[float], int]:
        """Score, statistic, contributions, the next EWMA vector and step; no side effects."""
        # One numpy product (BLAS: its rounding is the reference, so it stays numpy); the
        # rest on p floats is cheaper in plain Python.
        product: list[float] = self._whiten.dot(_array(values)).tolist()
        t = self._t + 1
        scale = self._steady_scale if t >= self._steady_t else self._scale(t)
        # The EWMA is carried divided by lam (one operation less a sample).
        statistic, contributions, ewma = self._kernel(
            product, self._offset_list, self._ewma, self._keep, scale
        )
        tail = 2.0 * self._tail(statistic)
        score = 1.0 - (tail if tail < 1.0 else 1.0)
        return score, statistic, contributions, ewma, t

    def _advance(self, values: list[float], ewma: list[float], t: int, alarm: bool) -> None:
        self._ewma = ewma
        self._t = t
        if not alarm:
            self._buffer.extend(values)
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
        threshold = self._threshold
        alarm = score > threshold
        if learn:
            self._advance(values, ewma, t, alarm)
            self._seen = index + 1
        return ModelEvaluation(
            ts,
            self._label,
            index,
            score,
            threshold,
            alarm,
            statistic,
            dict(zip(self._names, contributions, strict=False)),  # equal lengths: kernel made them
        )

    def evaluate(self, ts: datetime, x: Observation) -> ModelEvaluation:
        return self._step(ts, x, True)

    def _model_state(self) -> dict[str, Any]:
        p = len(self._names)
        flat = self._buffer
        return {
            "moments": self._moments.to_state(),
            "whiten": self._whiten.tolist(),
            "offset": self._offset.tolist(),
            "ewma": list(self._ewma),
            "t": self._t,
            "buffer": [flat[i : i + p] for i in range(0, len(flat), p)],
            "block": self._block,
        }

    def _set_model_state(self, state: Mapping[str, Any]) -> None:
        self._moments.set_state(state["moments"])
        self._whiten = np.array(state["whiten"], dtype=float)
        self._offset = np.array(state["offset"], dtype=float)
        self._offset_list = self._offset.tolist()
        self._ewma = [float(v) for v in state["ewma"]]
        self._t = int(state["t"])
        self._buffer = [float(v) for row in state["buffer"] for v in row]
        self._block = int(state["block"])


_dot = np.dot
_array = np.array
