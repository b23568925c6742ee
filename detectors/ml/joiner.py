"""Join inspection results to the equipment parameters that made the part, in bounded memory.

Two ways, as records allow:

* **by part id**: :meth:`PartJoiner.add_parameters` stores a part's parameters (merged over
  the stations of a line, later values of a name overwriting earlier ones);
  :meth:`PartJoiner.join` with that part id returns them and forgets the part;
* **by time window** (records without a part id): the parameters of one station are kept
  as a time series; an inspection at time t joins to the latest parameters at or before
  ``t - lag`` and no older than ``t - lag - window``.

At most ``max_parts`` parts and ``max_samples`` samples per station are kept; the oldest
is evicted first and counted (``evicted_parts``, ``evicted_samples``); inspections that
find nothing are counted in ``unmatched``. Deterministic: no clocks, no randomness.
Pure: the pipeline routes every record of a line to one joiner (see the wiring notes).

>>> from datetime import datetime, timedelta, timezone
>>> t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
>>> joiner = PartJoiner(max_parts=2)
>>> joiner.add_parameters("P1", {"temp": 410.0})
>>> joiner.add_parameters("P1", {"current": 12.5})
>>> joiner.join("P1")
{'temp': 410.0, 'current': 12.5}
>>> joiner.join("P1") is None, joiner.unmatched
(True, 1)
>>> for part in ("P2", "P3", "P4"):
...     joiner.add_parameters(part, {"temp": 1.0})
>>> joiner.evicted_parts, joiner.join("P2")
(1, None)
>>> joiner.add_sample("S1", t0, {"temp": 400.0})
>>> joiner.add_sample("S1", t0 + timedelta(seconds=10), {"temp": 420.0})
>>> joiner.join_window("S1", t0 + timedelta(seconds=15), lag=timedelta(seconds=6),
...                    window=timedelta(seconds=30))
{'temp': 400.0}
>>> twin = PartJoiner(max_parts=2)
>>> twin.set_state(joiner.to_state())
>>> twin.to_state() == joiner.to_state(), twin.join("P4")
(True, {'temp': 1.0})
"""

from __future__ import annotations

import bisect
from collections import OrderedDict, deque
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

__all__ = ["PartJoiner"]


class PartJoiner:
    """Bounded joins of inspections to parameters (see the module text)."""

    def __init__(self, max_parts: int = 10000, max_samples: int = 2000) -> None:
        if max_parts < 1 or max_samples < 1:
            raise ValueError("max_parts and max_samples must be at least 1")
        self.max_parts = max_parts
        self.max_samples = max_samples
        self._parts: OrderedDict[str, dict[str, float]] = OrderedDict()
        self._series: dict[str, deque[tuple[datetime, dict[str, float]]]] = {}
        self.evicted_parts = 0
        self.evicted_samples = 0
        self.unmatched = 0

    def __len__(self) -> int:
        return len(self._parts)

    def add_parameters(self, part_id: str, parameters: Mapping[str, float]) -> None:
        """Remember (or extend) the parameters of ``part_id``."""
        known = self._parts.get(part_id)
        if known is None:
            self._parts[part_id] = dict(parameters)
            while len(self._parts) > self.max_parts:
                self._parts.popitem(last=False)
                self.evicted_parts += 1
        else:
            known.update(parameters)

    def join(self, part_id: str) -> dict[str, float] | None:
        """The parameters of ``part_id`` (forgotten afterwards), or None if unknown."""
        found = self._parts.pop(part_id, None)
        if found is None:
            self.unmatched += 1
        return found

    def add_sample(self, station: str, ts: datetime, parameters: Mapping[str, float]) -> None:
        """One equipment sample of ``station`` (timestamps non-decreasing per station)."""
        series = self._series.setdefault(station, deque())
        if series and ts < series[-1][0]:
            raise ValueError(f"{station}: sample at {ts.isoformat()} is older than the last one")
        series.append((ts, dict(parameters)))
        while len(series) > self.max_samples:
            series.popleft()
            self.evicted_samples += 1

    def join_window(
        self, station: str, ts: datetime, lag: timedelta, window: timedelta
    ) -> dict[str, float] | None:
        """Latest parameters of ``station`` in ``[ts - lag - window, ts - lag]``, or None."""
        series = self._series.get(station)
        if not series:
            self.unmatched += 1
            return None
        until = ts - lag
        times = [t for t, _ in series]
        position = bisect.bisect_right(times, until) - 1
        if position < 0 or times[position] < until - window:
            self.unmatched += 1
            return None
        return dict(series[position][1])

    def to_state(self) -> dict[str, Any]:
        """Pending parts, sample series and counters as JSON-able plain data."""
        return {
            "parts": [[part, dict(values)] for part, values in self._parts.items()],
            "series": {
                station: [[ts.isoformat(), dict(values)] for ts, values in series]
                for station, series in self._series.items()
            },
            "evicted": [self.evicted_parts, self.evicted_samples, self.unmatched],
        }

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Load what :meth:`to_state` returned."""
        self._parts = OrderedDict(
            (str(part), {k: float(v) for k, v in values.items()}) for part, values in state["parts"]
        )
        self._series = {
            station: deque(
                (datetime.fromisoformat(ts), {k: float(v) for k, v in values.items()})
                for ts, values in series
            )
            for station, series in state["series"].items()
        }
        self.evicted_parts, self.evicted_samples, self.unmatched = (
            int(n) for n in state["evicted"]
        )
