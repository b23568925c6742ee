"""Trend forecasts with an uncertainty band, predicted limit crossings, and a CUSUM of P(defect).

:class:`HoltForecaster` is Holt's linear method in its error-correction form (ETS(A,A,N),
Hyndman et al. 2008): with one-step error ``e = x - (level + trend)``,
``level += trend + alpha e`` and ``trend += alpha beta e``. The residual variance is the
running variance of ``e`` (Welford). The h-step forecast is ``level + h trend`` with
variance ``sigma² [1 + sum_{j=1}^{h-1} (alpha + alpha beta j)²]`` and a normal band at
``coverage``.

:func:`predict_crossing` says whether the band crosses a limit within ``horizon`` steps:
the first step whose band is beyond the UCL (upper bound) or LCL (lower bound), and the
expected crossing time, where the mean forecast meets the limit (linear in the trend).

:class:`ProbabilityCusum` is a one-sided CUSUM of predicted defect probabilities against
their in-control mean: ``S = max(0, S + (p - mu0) / sd0 - k)``, alarm when ``S > h``
(then S restarts at 0); mu0 and sd0 come from the first ``warmup`` predictions.

>>> holt = HoltForecaster(alpha=0.5, beta=0.5)
>>> for x in (1.0, 2.0, 3.0, 4.0, 5.0):
...     holt.learn(x)
>>> holt.level, holt.trend
(5.0, 1.0)
>>> holt.forecast(3).mean
8.0
>>> from datetime import datetime, timedelta, timezone
>>> now = datetime(2026, 1, 1, tzinfo=timezone.utc)
>>> crossing = predict_crossing(holt, horizon=10, lcl=None, ucl=7.5,
...                             interval=timedelta(minutes=1), now=now)
>>> crossing.limit, crossing.expected_at - now
('ucl', datetime.timedelta(seconds=150))
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import NormalDist
from typing import Any

from linewatch.detectors.ml.standardize import OnlineMoments

__all__ = [
    "Forecast",
    "HoltForecaster",
    "PredictedCrossing",
    "ProbabilityCusum",
    "predict_crossing",
]


@dataclass(slots=True, frozen=True)
class Forecast:
    """The forecast ``steps`` ahead: mean and the band at the forecaster's coverage."""

    steps: int
    mean: float
    lower: float
    upper: float


class HoltForecaster:
    """Holt's linear trend method with a forecast band (see the module text)."""

    def __init__(self, alpha: float = 0.3, beta: float = 0.1, coverage: float = 0.95) -> None:
        if not 0.0 < alpha <= 1.0 or not 0.0 <= beta <= 1.0:
            raise ValueError(f"alpha must be in (0, 1] and beta in [0, 1], got {alpha}, {beta}")
        if not 0.0 < coverage < 1.0:
            raise ValueError(f"coverage must be in (0, 1), got {coverage}")
        self.alpha = alpha
        self.beta = beta
        self.coverage = coverage
        self._z = NormalDist().inv_cdf(0.5 + coverage / 2.0)
        self.n = 0
        self.level = 0.0
        self.trend = 0.0
        self._errors = OnlineMoments(1)

    def learn(self, x: float) -> None:
        """One new observation of the series."""
        self.n += 1
        if self.n == 1:
            self.level = x
            return
        if self.n == 2:
            self.trend = x - self.level
            self.level = x
            return
        error = x - (self.level + self.trend)
        self._errors.learn([error])
        self.level += self.trend + self.alpha * error
        self.trend += self.alpha * self.beta * error

    @property
    def sigma(self) -> float:
        """Standard deviation of the one-step errors (0 before two errors)."""
        return math.sqrt(self._errors.variance()[0]) if self._errors.n >= 2 else 0.0

    def forecast(self, steps: int) -> Forecast:
        """The forecast ``steps`` (>= 1) ahead."""
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        mean = self.level + steps * self.trend
        growth = sum((self.alpha + self.alpha * self.beta * j) ** 2 for j in range(1, steps))
        half = self._z * self.sigma * math.sqrt(1.0 + growth)
        return Forecast(steps, mean, mean - half, mean + half)

    def to_state(self) -> dict[str, Any]:
        """State as JSON-able plain data."""
        return {
            "n": self.n,
            "level": self.level,
            "trend": self.trend,
            "errors": self._errors.to_state(),
        }

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Load what :meth:`to_state` returned."""
        self.n = int(state["n"])
        self.level = float(state["level"])
        self.trend = float(state["trend"])
        self._errors.set_state(state["errors"])


@dataclass(slots=True, frozen=True)
class PredictedCrossing:
    """A limit the forecast band crosses within the horizon.

    ``band_step``/``band_at``: the first step (and time) whose band is beyond ``limit``.
    ``expected_at``: when the mean forecast reaches the limit (None if the trend points
    away from it); it may lie beyond the horizon when only the band crosses.
    """

    limit: str
    value: float
    band_step: int
    band_at: datetime
    expected_at: datetime | None
    forecast: Forecast


def predict_crossing(
    forecaster: HoltForecaster,
    horizon: int,
    lcl: float | None,
    ucl: float | None,
    interval: timedelta,
    now: datetime,
) -> PredictedCrossing | None:
    """The first crossing of ``lcl``/``ucl`` by the band within ``horizon`` steps, or None.

    Step k is the observation ``k * interval`` after ``now`` (the last one learned).
    """
    if forecaster.n < 2:
        return None
    for step in range(1, horizon + 1):
        ahead = forecaster.forecast(step)
        for name, limit, beyond in (
            ("ucl", ucl, ucl is not None and ahead.upper > ucl),
            ("lcl", lcl, lcl is not None and ahead.lower < lcl),
        ):
            if beyond and limit is not None:
                gap = limit - forecaster.level
                trend = forecaster.trend
                expected = None
                if gap == 0.0:
                    expected = now
                elif trend != 0.0 and gap / trend > 0.0:
                    expected = now + interval * (gap / trend)
                return PredictedCrossing(name, limit, step, now + interval * step, expected, ahead)
    return None


class ProbabilityCusum:
    """Upper CUSUM of predicted P(defect) against its in-control level (see the module text).

    >>> cusum = ProbabilityCusum(warmup=4, k=0.5, h=4.0)
    >>> [cusum.update(p) for p in (0.1, 0.2, 0.1, 0.2)]   # mu0 = 0.15, sd0 = 0.0577
    [False, False, False, False]
    >>> [cusum.update(p) for p in (0.3, 0.3)], round(cusum.statistic, 3)
    ([False, True], 0.0)
    """

    def __init__(self, warmup: int = 100, k: float = 0.5, h: float = 5.0) -> None:
        if warmup < 2 or k < 0.0 or h <= 0.0:
            raise ValueError("warmup must be >= 2, k >= 0 and h > 0")
        self.warmup = warmup
        self.k = k
        self.h = h
        self._moments = OnlineMoments(1)
        self.statistic = 0.0

    @property
    def baseline(self) -> tuple[float, float]:
        """In-control mean and standard deviation of the predictions."""
        return self._moments.mean[0], self._moments.std()[0]

    def update(self, probability: float) -> bool:
        """Add one prediction; True when the mean has risen significantly (then restart)."""
        if self._moments.n < self.warmup:
            self._moments.learn([probability])
            return False
        mean, sd = self.baseline
        self.statistic = max(0.0, self.statistic + (probability - mean) / sd - self.k)
        if self.statistic > self.h:
            self.statistic = 0.0
            return True
        return False

    def to_state(self) -> dict[str, Any]:
        """State as JSON-able plain data."""
        return {"moments": self._moments.to_state(), "statistic": self.statistic}

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Load what :meth:`to_state` returned."""
        self._moments.set_state(state["moments"])
        self.statistic = float(state["statistic"])
