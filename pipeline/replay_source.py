"""A replay's source wrapper: a time window on any recorded input, and scaled real time.

``ReplaySource(inner, start, stop, speed)`` hands out ``inner``'s records in their order.

* **Window.** With ``start``/``stop``, a record whose event time is outside
  ``[start, stop)`` is skipped and counted in :attr:`ReplaySource.outside_window`; it is
  neither processed nor a dead letter (it is fine data, just not asked for). A record whose
  time cannot be read here (no ``ts``, not a time, no zone) is passed on, so that decoding
  dead-letters it with the precise reason.
* **Speed.** With ``speed`` N, the source paces itself so that event time advances N times
  as fast as wall time from the first record on (``speed=60``: an hour of history a
  minute). It sleeps in slices of at most ``max_sleep_s`` and then returns what is due (or
  nothing), so a stop request and checkpoints are never held up. Pacing follows the newest
  event time seen: an out-of-order record goes out at once.

Pacing belongs here, not in the engine: the engine sees the same records in the same order
at any speed, so the outputs are the same.

>>> from datetime import datetime, timezone
>>> from linewatch.connectors.memory import IterableSource
>>> from linewatch.pipeline.models import Measurement
>>> t = [datetime(2026, 1, 1, 8, m, tzinfo=timezone.utc) for m in range(4)]
>>> rows = [Measurement(ts=x, line="L", station="s", characteristic="c", value=1.0) for x in t]
>>> source = ReplaySource(IterableSource(rows), start=t[1], stop=t[3])
>>> [r.payload.ts.minute for r in source.poll(0.0)], source.outside_window
([1, 2], 2)
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec

from linewatch.pipeline.models import RawRecord, Source

__all__ = ["ReplaySource", "event_time"]


class _Stamp(msgspec.Struct):
    ts: datetime


_stamp_decoder = msgspec.json.Decoder(_Stamp)


def event_time(raw: RawRecord) -> datetime | None:
    """The zone-aware event time of a raw record, or None if it cannot be read here."""
    payload = raw.payload
    ts: Any
    if isinstance(payload, bytes | bytearray | memoryview):
        try:
            ts = _stamp_decoder.decode(payload).ts
        except (msgspec.DecodeError, ValueError):
            return None
    elif isinstance(payload, dict):
        ts = payload.get("ts")
        if isinstance(ts, str):
            try:
                ts = datetime.fromisoformat(ts)
            except ValueError:
                return None
    else:
        ts = getattr(payload, "ts", None)
    if not isinstance(ts, datetime) or ts.tzinfo is None:
        return None
    return ts


class ReplaySource:
    """Wraps a finite source with a time window and/or pacing (see the module docstring)."""

    def __init__(
        self,
        inner: Source,
        start: datetime | None = None,
        stop: datetime | None = None,
        speed: float | None = None,
        *,
        max_sleep_s: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if speed is not None and not speed > 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.inner = inner
        self.start, self.stop, self.speed = start, stop, speed
        self.max_sleep_s = max_sleep_s
        self._clock, self._sleep = clock, sleep
        self._pending: deque[tuple[RawRecord, datetime | None]] = deque()
        #: Records skipped because their event time is outside ``[start, stop)``.
        self.outside_window = 0
        #: The newest event time handed out (for the progress bar).
        self.event_time: datetime | None = None
        self._origin: tuple[float, float] | None = None  # (event posix, wall clock)

    # -- Source protocol ---------------------------------------------------------------

    def poll(self, timeout: float) -> list[RawRecord]:
        if not self._pending:
            self._take(self.inner.poll(timeout))
        batch: list[RawRecord] = []
        pending = self._pending
        while pending:
            raw, ts = pending[0]
            if ts is not None and self.speed is not None:
                wait = self._wait_for(ts)
                if wait > 0.0:
                    if batch:
                        break
                    self._sleep(min(wait, self.max_sleep_s))
                    if self._wait_for(ts) > 0.0:
                        break
            pending.popleft()
            if ts is not None and (self.event_time is None or ts > self.event_time):
                self.event_time = ts
            batch.append(raw)
        return batch

    def commit(self) -> None:
        self.inner.commit()

    @property
    def exhausted(self) -> bool:
        return not self._pending and self.inner.exhausted

    def snapshot(self) -> dict[str, Any]:
        return self.inner.snapshot()

    def close(self) -> None:
        self.inner.close()

    # -- what the CLI and the job read from a file source ------------------------------

    @property
    def damage(self) -> Any:
        return getattr(self.inner, "damage", None)

    def progress(self) -> tuple[int, int]:
        progress_of = getattr(self.inner, "progress", None)
        return progress_of() if progress_of is not None else (0, 0)

    # -- internals ---------------------------------------------------------------------

    def _take(self, records: list[RawRecord]) -> None:
        start, stop = self.start, self.stop
        # without window or pacing, records pass untouched
        if start is None and stop is None and self.speed is None:
            self._pending.extend((raw, None) for raw in records)
            if records:  # the progress bar's time: the batch's last record is enough
                ts = event_time(records[-1])
                if ts is not None and (self.event_time is None or ts > self.event_time):
                    self.event_time = ts
            return
        for raw in records:
            ts = event_time(raw)
            outside = ts is not None and (
                (start is not None and ts < start) or (stop is not None and ts >= stop)
            )
            if outside:
                self.outside_window += 1
                continue
            self._pending.append((raw, ts))

    def _wait_for(self, ts: datetime) -> float:
        """Seconds until the record at ``ts`` is due (0 or less: due now)."""
        assert self.speed is not None
        posix = ts.timestamp()
        if self._origin is None:
            self._origin = (posix, self._clock())
            return 0.0
        event0, wall0 = self._origin
        return wall0 + (posix - event0) / self.speed - self._clock()
