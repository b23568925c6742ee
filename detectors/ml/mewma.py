"""MEWMA: the multivariate EWMA chart (Lowry, Woodall, Champ & Rigdon 1992).

On the standardised vector ``u_t``: ``Z_t = lam u_t + (1 - lam) Z_{t-1}``, ``Z_0 = 0``, and

    T²_t = Z_t' Sigma_Z(t)^-1 Z_t,   Sigma_Z(t) = lam / (2 - lam) [1 - (1 - lam)^(2t)] R

with R the correlation matrix of the in-control data (the exact, time-varying covariance,
so the first points are judged right too). In control, Z_t is normal with that covariance,
so T²_t is chi-square with p degrees of freedom at every t: the **score is the chi-square
CDF of T²** and the per-point false-alarm rate of ``score > 1 - target_far`` is
``target_far``. (The points are autocorrelated, so the in-control ARL to the first alarm
is longer than ``1 / target_far``.) ``lam = 1`` is Hotelling's T² on individual vectors.

Contributions: ``c_i = Z_i (Sigma_Z^-1 Z)_i``, which sum to T² (the per-variable
decomposition of Kourti & MacGregor 1996); the shifted variable carries the largest.

The mean and covariance come from the ``warmup`` points, and keep learning (Welford, with
optional forgetting) from every later point that is not flagged; R^-1 is recomputed every
``refit_every`` learned points.

>>> from datetime import datetime, timezone
>>> ts = datetime(2026, 1, 1, tzinfo=timezone.utc)
>>> chart = MEWMA(["a", "b"], lam=0.5, warmup=4, refit_every=1000)
>>> for a, b in ((1.0, 2.0), (-1.0, 2.0), (1.0, -2.0), (-1.0, -2.0)):
...     _ = chart.evaluate(ts, {"a": a, "b": b})
>>> result = chart.evaluate(ts, {"a": 3.0, "b": 0.0})
>>> round(result.statistic, 6)        # Z = (0.5*3/1.1547, 0) / (0.5/1.5 * 0.75) -> 6.75
6.75
>>> {k: round(v, 6) for k, v in result.contributions.items()}
{'a': 6.75, 'b': 0.0}
>>> round(result.score, 6)            # chi-square(2) CDF: 1 - exp(-6.75 / 2)
0.965782
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
from scipy import special

from linewatch.detectors.ml.model import Assessment, ModelDetector
from linewatch.detectors.ml.standardize import OnlineMoments

__all__ = ["MEWMA", "pseudo_inverse"]


def pseudo_inverse(matrix: list[list[float]]) -> list[list[float]]:
    """Symmetric pseudo-inverse (a constant or collinear variable does not make T² blow up).

    >>> pseudo_inverse([[2.0, 0.0], [0.0, 4.0]])
    [[0.5, 0.0], [0.0, 0.25]]
    """
    inverse: list[list[float]] = np.linalg.pinv(
        np.array(matrix, dtype=float), rcond=1e-10, hermitian=True
    ).tolist()
    return inverse


class MEWMA(ModelDetector):
    """Multivariate EWMA over ``variables`` (see the module text)."""

    model_name: ClassVar[str] = "mewma"

    def __init__(
        self,
        variables: Sequence[str],
        lam: float = 0.1,
        warmup: int = 200,
        target_far: float = 0.0027,
        forget: float = 0.0,
        refit_every: int = 50,
    ) -> None:
        if not 0.0 < lam <= 1.0:
            raise ValueError(f"lam must be in (0, 1], got {lam}")
        if refit_every < 1:
            raise ValueError(f"refit_every must be at least 1, got {refit_every}")
        self.variables = tuple(variables)
        self.lam = lam
        self.warmup = warmup
        self.target_far = target_far
        self.forget = forget
        self.refit_every = refit_every
        self._setup(variables, warmup, target_far)
        p = len(self._names)
        self._moments = OnlineMoments(p, forget)
        self._z = [0.0] * p
        self._t = 0
        self._inverse = [[0.0] * p for _ in range(p)]
        self._since_refit = 0

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        return [
            {"variables": ("a", "b", "c"), "warmup": 30, "refit_every": 7},
            {"variables": ("a", "b", "c"), "lam": 1.0, "warmup": 30, "forget": 0.01},
        ]

    def _warm(self, values: list[float]) -> None:
        self._moments.learn(values)

    def _refit(self) -> None:
        self._inverse = pseudo_inverse(self._moments.correlation())
        self._since_refit = 0

    def _calibrate(self) -> None:
        self._refit()

    def _assess(self, values: list[float]) -> Assessment:
        lam = self.lam
        keep = 1.0 - lam
        u = self._moments.standardise(values)
        z = [lam * ui + keep * zi for ui, zi in zip(u, self._z, strict=True)]
        t = self._t + 1
        scale = lam / (2.0 - lam) * (1.0 - keep ** (2 * t))
        contributions = [
            zi * sum(r * zj for r, zj in zip(row, z, strict=True)) / scale
            for zi, row in zip(z, self._inverse, strict=True)
        ]
        t2 = max(sum(contributions), 0.0)
        score = float(special.chdtr(len(z), t2))

        def commit(alarm: bool) -> None:
            self._z = z
            self._t = t
            if not alarm:
                self._moments.learn(values)
                self._since_refit += 1
                if self._since_refit >= self.refit_every:
                    self._refit()

        return Assessment(score, t2, contributions, commit)

    def _model_state(self) -> dict[str, Any]:
        return {
            "moments": self._moments.to_state(),
            "z": list(self._z),
            "t": self._t,
            "inverse": [list(r) for r in self._inverse],
            "since_refit": self._since_refit,
        }

    def _set_model_state(self, state: Mapping[str, Any]) -> None:
        self._moments.set_state(state["moments"])
        self._z = [float(v) for v in state["z"]]
        self._t = int(state["t"])
        self._inverse = [[float(v) for v in row] for row in state["inverse"]]
        self._since_refit = int(state["since_refit"])
