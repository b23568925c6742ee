"""Online PCA monitoring: Hotelling T² in the principal subspace and SPE (Q) off it.

The correlation matrix of the standardised vector is estimated with exponential forgetting
(``forget``, effective memory about ``1 / forget`` points) and re-decomposed every
``refit_every`` learned points. With loadings P (k leading eigenvectors, eigenvalues
l_1..l_k) and scores ``t = P u``:

* ``T² = sum_a t_a² / l_a``, chi-square(k) in control;
* ``SPE = |u - P' t|²``, judged by Box's (1954) approximation ``SPE ~ g chi²(h)`` with
  ``g = theta2 / theta1``, ``h = theta1² / theta2``, ``theta_i = sum_{j>k} l_j^i``
  (Jackson & Mudholkar 1979 use the same moments).

**Score** ``= 1 - min(1, 2 min(p_T², p_SPE))``: the Bonferroni-adjusted p-value of the two,
so ``score > 1 - target_far`` has a per-point false-alarm rate of at most ``target_far``.
**Contributions** are those of the more significant statistic: ``u_i (P' L^-1 t)_i`` for
T² (they sum to T²), ``e_i²`` for SPE (they sum to SPE). A correlation break shows in SPE.

>>> from datetime import datetime, timezone
>>> import random
>>> ts = datetime(2026, 1, 1, tzinfo=timezone.utc)
>>> rng = random.Random(1)
>>> pca = OnlinePCA(["a", "b"], n_components=1, warmup=200)
>>> for _ in range(200):
...     a = rng.gauss(0, 1)
...     _ = pca.evaluate(ts, {"a": a, "b": a + rng.gauss(0, 0.1)})
>>> broken = pca.evaluate(ts, {"a": 1.0, "b": -1.0})
>>> broken.alarm, max(broken.contributions, key=broken.contributions.get) in ("a", "b")
(True, True)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
from scipy import special

from linewatch.detectors.ml.model import Assessment, ModelDetector
from linewatch.detectors.ml.standardize import OnlineMoments

__all__ = ["OnlinePCA"]

_TINY = 1e-12


class OnlinePCA(ModelDetector):
    """PCA T² + SPE with forgetting over ``variables`` (see the module text).

    ``n_components`` fixes k; otherwise k is the fewest components explaining
    ``explained`` of the variance, at most p - 1 (so SPE exists when p > 1).
    """

    model_name: ClassVar[str] = "pca"

    def __init__(
        self,
        variables: Sequence[str],
        n_components: int | None = None,
        explained: float = 0.9,
        forget: float = 0.002,
        warmup: int = 200,
        target_far: float = 0.0027,
        refit_every: int = 25,
    ) -> None:
        p = len(tuple(variables))
        if n_components is not None and not 1 <= n_components <= p:
            raise ValueError(f"n_components must be in 1..{p}, got {n_components}")
        if not 0.0 < explained <= 1.0:
            raise ValueError(f"explained must be in (0, 1], got {explained}")
        if refit_every < 1:
            raise ValueError(f"refit_every must be at least 1, got {refit_every}")
        self.variables = tuple(variables)
        self.n_components = n_components
        self.explained = explained
        self.forget = forget
        self.warmup = warmup
        self.target_far = target_far
        self.refit_every = refit_every
        self._setup(variables, warmup, target_far)
        self._moments = OnlineMoments(p, forget)
        self._loadings: list[list[float]] = []
        self._eigen: list[float] = []
        self._g = 1.0
        self._h = 1.0
        self._residual = 0.0
        self._since_refit = 0

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        return [
            {"variables": ("a", "b", "c"), "warmup": 30, "refit_every": 5},
            {"variables": ("a", "b", "c"), "n_components": 1, "warmup": 30, "forget": 0.0},
        ]

    def _warm(self, values: list[float]) -> None:
        self._moments.learn(values)

    def _refit(self) -> None:
        values, vectors = np.linalg.eigh(np.array(self._moments.correlation(), dtype=float))
        order = np.argsort(values)[::-1]
        eigen = [max(float(v), 0.0) for v in values[order]]
        vectors = vectors[:, order]
        p = len(eigen)
        if self.n_components is not None:
            k = self.n_components
        else:
            total = sum(eigen) or 1.0
            k, running = 0, 0.0
            while k < p and running < self.explained * total:
                running += eigen[k]
                k += 1
            k = max(1, min(k, p - 1 if p > 1 else 1))
        self._eigen = [max(v, _TINY) for v in eigen[:k]]
        self._loadings = vectors[:, :k].T.tolist()
        rest = eigen[k:]
        theta1 = sum(rest)
        theta2 = sum(v * v for v in rest)
        self._residual = theta1
        if theta1 > _TINY and theta2 > 0.0:
            self._g = theta2 / theta1
            self._h = theta1 * theta1 / theta2
        else:
            self._g, self._h = 1.0, 1.0
        self._since_refit = 0

    def _calibrate(self) -> None:
        self._refit()

    def _assess(self, values: list[float]) -> Assessment:
        u = self._moments.standardise(values)
        scores = [sum(w * ui for w, ui in zip(row, u, strict=True)) for row in self._loadings]
        t2 = sum(t * t / e for t, e in zip(scores, self._eigen, strict=True))
        residual = [
            ui - sum(row[i] * t for row, t in zip(self._loadings, scores, strict=True))
            for i, ui in enumerate(u)
        ]
        spe = sum(e * e for e in residual)
        p_t2 = float(special.chdtrc(len(scores), t2))
        has_residual = self._residual > _TINY
        p_spe = float(special.chdtrc(self._h, spe / self._g)) if has_residual else 1.0
        score = 1.0 - min(1.0, 2.0 * min(p_t2, p_spe))
        if p_t2 <= p_spe:
            weights = [t / e for t, e in zip(scores, self._eigen, strict=True)]
            contributions = [
                ui * sum(row[i] * w for row, w in zip(self._loadings, weights, strict=True))
                for i, ui in enumerate(u)
            ]
            statistic = t2
        else:
            contributions = [e * e for e in residual]
            statistic = spe

        def commit(alarm: bool) -> None:
            if not alarm:
                self._moments.learn(values)
                self._since_refit += 1
                if self._since_refit >= self.refit_every:
                    self._refit()

        return Assessment(score, statistic, contributions, commit)

    def _model_state(self) -> dict[str, Any]:
        return {
            "moments": self._moments.to_state(),
            "loadings": [list(r) for r in self._loadings],
            "eigen": list(self._eigen),
            "g": self._g,
            "h": self._h,
            "residual": self._residual,
            "since_refit": self._since_refit,
        }

    def _set_model_state(self, state: Mapping[str, Any]) -> None:
        self._moments.set_state(state["moments"])
        self._loadings = [[float(v) for v in row] for row in state["loadings"]]
        self._eigen = [float(v) for v in state["eigen"]]
        self._g = float(state["g"])
        self._h = float(state["h"])
        self._residual = float(state["residual"])
        self._since_refit = int(state["since_refit"])
