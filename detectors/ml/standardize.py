"""Online mean, variance and covariance of a vector (Welford/West), with optional forgetting.

With ``forget = 0`` every observation weighs the same and the covariance is the unbiased
sample covariance (Welford 1962). With ``0 < forget < 1`` the weights decay geometrically,
``w_i = (1 - forget)^(n - i)``, so the estimates follow a slowly moving process; the update
is West's (1979) weighted form and the covariance is the weighted one, ``S / W``.

The state is plain lists of floats, so it snapshots to JSON exactly.

>>> moments = OnlineMoments(2)
>>> for x in ([1.0, 2.0], [3.0, 2.0], [5.0, 8.0]):
...     moments.learn(x)
>>> moments.mean
[3.0, 4.0]
>>> moments.covariance()
[[4.0, 6.0], [6.0, 12.0]]
>>> [round(z, 4) for z in moments.standardise([5.0, 4.0])]
[1.0, 0.0]
>>> batch = OnlineMoments(2)
>>> batch.learn_batch([[1.0, 2.0], [3.0, 2.0]]); batch.learn_batch([[5.0, 8.0]])
>>> batch.mean, batch.covariance()
([3.0, 4.0], [[4.0, 6.0], [6.0, 12.0]])
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["OnlineMoments"]

#: Smallest standard deviation used to standardise: a constant variable gives z = 0 while it
#: stays constant, and a huge z the moment it moves, instead of a division by zero.
_STD_FLOOR = 1e-12


class OnlineMoments:
    """Running mean and covariance of ``size``-vectors; ``forget`` in [0, 1)."""

    def __init__(self, size: int, forget: float = 0.0) -> None:
        if size < 1:
            raise ValueError(f"size must be at least 1, got {size}")
        if not 0.0 <= forget < 1.0:
            raise ValueError(f"forget must be in [0, 1), got {forget}")
        self.size = size
        self.forget = forget
        self.n = 0
        self.weight = 0.0
        self.mean = [0.0] * size
        self.comoment = [[0.0] * size for _ in range(size)]

    def learn(self, x: Sequence[float]) -> None:
        """Add one observation (a sequence of ``size`` floats)."""
        keep = 1.0 - self.forget
        self.n += 1
        self.weight = keep * self.weight + 1.0
        before = [xi - mi for xi, mi in zip(x, self.mean, strict=True)]
        share = 1.0 / self.weight
        mean = [mi + d * share for mi, d in zip(self.mean, before, strict=True)]
        after = [xi - mi for xi, mi in zip(x, mean, strict=True)]
        self.mean = mean
        for i, row in enumerate(self.comoment):
            bi = before[i]
            for j in range(self.size):
                row[j] = keep * row[j] + bi * after[j]

    def learn_batch(self, rows: Sequence[Sequence[float]] | np.ndarray) -> None:
        """Add many observations at once (Chan, Golub & LeVeque's merge; ``forget`` = 0 only).

        ``rows``: a sequence of ``size``-rows, or an (m, size) array. Equal to :meth:`learn`
        on each row up to rounding.
        """
        if len(rows) == 0:
            return
        if self.forget != 0.0:
            raise ValueError("learn_batch needs forget = 0")
        data = np.asarray(rows, dtype=float)
        m = data.shape[0]
        # ndarray.mean's and np.outer's own ufunc calls, without their Python wrappers
        batch_mean = np.add.reduce(data, axis=0) / m
        centered = data - batch_mean
        batch_comoment = centered.T @ centered
        n = self.n + m
        old_mean = np.array(self.mean)
        delta = batch_mean - old_mean
        mean = old_mean + delta * (m / n)
        spread = np.multiply.outer(delta, delta) * (self.n * m / n)
        comoment = np.array(self.comoment) + batch_comoment + spread
        self.n = n
        self.weight = float(n)
        self.mean = mean.tolist()
        self.comoment = comoment.tolist()

    def correlation_std_mean(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`correlation`, :meth:`std` and ``mean`` as arrays, bit for bit the same.

        Element-wise numpy arithmetic rounds exactly like Python's, so this is the same
        numbers for a fraction of the time (it runs at every refit of the equipment model).
        """
        divisor = self._divisor()
        comoment = np.array(self.comoment)
        cov = comoment / divisor
        variance = np.maximum(np.diagonal(comoment), 0.0) / divisor
        std = np.maximum(np.sqrt(variance), _STD_FLOOR)
        correlation = cov / np.multiply.outer(std, std)
        np.fill_diagonal(correlation, 1.0)
        return correlation, std, np.array(self.mean)

    def _divisor(self) -> float:
        if self.forget == 0.0:
            return max(self.weight - 1.0, 1.0)
        return max(self.weight, 1.0)

    def variance(self) -> list[float]:
        """Variance of each component (0 before two observations)."""
        divisor = self._divisor()
        return [max(self.comoment[i][i], 0.0) / divisor for i in range(self.size)]

    def std(self) -> list[float]:
        """Standard deviation of each component, floored above zero."""
        return [max(math.sqrt(v), _STD_FLOOR) for v in self.variance()]

    def covariance(self) -> list[list[float]]:
        """Covariance matrix (unbiased without forgetting, weighted with it)."""
        divisor = self._divisor()
        return [[c / divisor for c in row] for row in self.comoment]

    def correlation(self) -> list[list[float]]:
        """Correlation matrix: the covariance of the standardised vector."""
        std = self.std()
        cov = self.covariance()
        return [
            [1.0 if i == j else cov[i][j] / (std[i] * std[j]) for j in range(self.size)]
            for i in range(self.size)
        ]

    def standardise(self, x: Sequence[float]) -> list[float]:
        """``(x - mean) / std`` component-wise."""
        return [(xi - m) / s for xi, m, s in zip(x, self.mean, self.std(), strict=True)]

    def to_state(self) -> dict[str, Any]:
        """State as JSON-able plain data."""
        return {
            "n": self.n,
            "weight": self.weight,
            "mean": list(self.mean),
            "comoment": [list(r) for r in self.comoment],
        }

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Load what :meth:`to_state` returned."""
        self.n = int(state["n"])
        self.weight = float(state["weight"])
        self.mean = [float(v) for v in state["mean"]]
        self.comoment = [[float(v) for v in row] for row in state["comoment"]]
