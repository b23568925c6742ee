"""Guards in front of the detectors: a robust event clock per key, a value guard per stream.

**Event time.** Each ``line/station`` key keeps the timestamps of its last
:data:`CLOCK_RECORDS` accepted records; their median is the key's *reference*. A record
more than ``lateness.allowed_lateness_s`` older than the reference is *late*, one more than
``lateness.allowed_future_s`` ahead of it is a *future timestamp*; both are dead letters
and change nothing. Only accepted records enter the reference, and a median moves only
when most of the recent records move, so one record with a wrong clock (a typo'd year, a
device an hour off) cannot make its station's good records late. The reference is the
data's own time, not the processing clock, so historical files replay as they were
recorded. A real jump (a station that restarts after a stop longer than
``allowed_future_s``) shows as ``lateness.reanchor_after`` future records in a row that
agree with each other (each within ``allowed_future_s`` of the one before): the last of
them is accepted and re-anchors the clock; the ones before it stay dead letters.

**Values.** A variables stream (a characteristic or an equipment parameter) refuses, as
``implausible value``, a value outside its configured ``plausible: {min, max}``, or more
than ``implausible_sigma`` (default 50) sigmas from the center of its established process.
The process is established by the stream's first :data:`REFERENCE_VALUES` accepted values:
center their median, sigma their MAD x 1.4826 (robust: a few wild values among them do not
move it). The bound is far outside any control limit, so it never hides a signal; it keeps
garbage (a unit mix-up, 1e200 from a broken sensor) out of the estimates. A stream whose
first values are all equal has no sigma bound; ``zmr`` streams (several products, several
centers) have none either; ``plausible`` is the guard of the first values.

>>> clock = EventClock()
>>> clock.commit(100.0); clock.commit(110.0); clock.commit(120.0)
>>> clock.reference
110.0
>>> guard = ValueGuard(plausible=(0.0, 10.0), sigmas=None)
>>> guard.check(11.0)
'is outside the plausible range [0, 10]'
>>> guard.check(5.0) is None
True
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

__all__ = ["CLOCK_RECORDS", "REFERENCE_VALUES", "EventClock", "ValueGuard"]

#: Accepted timestamps per key whose median is the key's event-time reference.
CLOCK_RECORDS = 9
#: Accepted values that establish a stream's center and sigma for the value guard.
REFERENCE_VALUES = 30
_MAD_TO_SIGMA = 1.482602218505602  # 1 / Phi^-1(3/4)
_MEAN_AD_TO_SIGMA = 1.2533141373155001  # sqrt(pi / 2)


class EventClock:
    """The recent accepted timestamps (POSIX seconds) of one key, and their median."""

    __slots__ = ("future_run", "in_order", "recent", "reference")

    def __init__(self) -> None:
        self.recent: deque[float] = deque(maxlen=CLOCK_RECORDS)
        self.reference: float | None = None
        self.in_order = True  # ``recent`` is non-decreasing: its middle is the median
        # Timestamps of the future records refused in a row (a candidate jump).
        self.future_run: list[float] = []

    def commit(self, ts: float, reanchor: bool = False) -> None:
        """An accepted record's time; ``reanchor`` replaces the history by the future run."""
        recent = self.recent
        if reanchor:
            recent.clear()
            recent.extend(self.future_run)
            self.in_order = False
        if self.future_run:
            self.future_run.clear()
        if recent and ts < recent[-1]:
            self.in_order = False
        recent.append(ts)
        if self.in_order:  # the hot path: records in time order
            self.reference = recent[len(recent) // 2]
            return
        ordered = sorted(recent)
        self.reference = ordered[len(ordered) // 2]
        self.in_order = ordered == list(recent)

    def state(self) -> dict[str, Any]:
        return {"recent": list(self.recent), "future_run": list(self.future_run)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> EventClock:
        clock = cls()
        recent = [_finite(v, "clock.recent") for v in state["recent"]]
        if len(recent) > CLOCK_RECORDS:
            raise ValueError(
                f"clock.recent holds {len(recent)} timestamps, at most {CLOCK_RECORDS}"
            )
        clock.future_run = [_finite(v, "clock.future_run") for v in state["future_run"]]
        clock.recent.extend(recent)
        if recent:
            ordered = sorted(recent)
            clock.reference = ordered[len(ordered) // 2]
            clock.in_order = ordered == recent
        return clock


class ValueGuard:
    """Refuses implausible values of one stream before they reach its detector."""

    __slots__ = ("center", "high", "low", "plausible", "sample", "sigma", "sigmas")

    def __init__(self, plausible: tuple[float, float] | None, sigmas: float | None) -> None:
        self.plausible = plausible
        self.sigmas = sigmas
        self.center: float | None = None
        self.sigma: float | None = None
        # Values until the process is established (None after, or without a sigma bound).
        self.sample: list[float] | None = [] if sigmas is not None else None
        self.low, self.high = plausible if plausible is not None else (-math.inf, math.inf)

    def check(self, value: float) -> str | None:
        """``None`` if ``value`` is plausible, else why not (after "value X ")."""
        if self.low <= value <= self.high:
            return None
        if self.plausible is not None and not self.plausible[0] <= value <= self.plausible[1]:
            return f"is outside the plausible range [{self.plausible[0]:g}, {self.plausible[1]:g}]"
        assert self.center is not None and self.sigma is not None
        distance = abs(value - self.center) / self.sigma
        return (
            f"is {distance:.3g} sigma from the established center {self.center:.6g} "
            f"(sigma {self.sigma:.4g}; implausible_sigma {self.sigmas:g})"
        )

    def commit(self, value: float) -> None:
        """An accepted value: it helps establish the process until there are enough."""
        sample = self.sample
        if sample is None:
            return
        sample.append(value)
        if len(sample) >= REFERENCE_VALUES:
            self._establish(sample)
            self.sample = None

    def _establish(self, sample: list[float]) -> None:
        ordered = sorted(sample)
        middle = len(ordered) // 2
        center = (ordered[middle] + ordered[~middle]) / 2
        deviations = sorted(abs(v - center) for v in ordered)
        sigma = (deviations[middle] + deviations[~middle]) / 2 * _MAD_TO_SIGMA
        if not sigma > 0:
            sigma = math.fsum(deviations) / len(deviations) * _MEAN_AD_TO_SIGMA
        if not (math.isfinite(center) and math.isfinite(sigma) and sigma > 0):
            return  # constant (or wild) first values: no sigma bound for this stream
        assert self.sigmas is not None
        self.center, self.sigma = center, sigma
        self.low = max(self.low, center - self.sigmas * sigma)
        self.high = min(self.high, center + self.sigmas * sigma)

    def state(self) -> dict[str, Any]:
        # A copy: a state kept as a rebuild's base must not grow with the live sample.
        sample = None if self.sample is None else list(self.sample)
        return {"center": self.center, "sigma": self.sigma, "sample": sample}

    def restore(self, state: dict[str, Any]) -> None:
        """Load :meth:`state`; a guard whose sigma bound was switched off keeps none."""
        if self.sigmas is None:
            return
        sample, center = state["sample"], state["center"]
        if sample is not None:
            if len(sample) >= REFERENCE_VALUES:
                raise ValueError(f"guard.sample holds {len(sample)} values, fewer expected")
            self.sample = [_finite(v, "guard.sample") for v in sample]
            return
        self.sample = None
        if center is not None:
            sigma = _finite(state["sigma"], "guard.sigma")
            if not sigma > 0:
                raise ValueError("guard.sigma must be positive")
            self.center, self.sigma = _finite(center, "guard.center"), sigma
            self.low = max(self.low, self.center - self.sigmas * sigma)
            self.high = min(self.high, self.center + self.sigmas * sigma)


def _finite(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must hold finite numbers, got {value!r}")
    return float(value)
