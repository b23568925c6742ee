"""The line stage's reorder buffer: records in one canonical order, whatever the workers.

Stage-1 workers forward a line's records to the repartition topic in an order that depends
on which worker owns which input partition and when each one flushes. The buffer holds
them and releases them sorted by ``(event ts, origin topic, origin partition, origin
offset)``, and only below the watermark: the least, over every origin partition, of the
event time its stage-1 owner has promised not to go below (its newest event time minus the
grace). So the released sequence depends on the data only, not on the timing.

* a record whose origin offset is below the next one already taken from its origin
  partition is a duplicate (a stage-1 worker replayed it after a crash or a rebalance) and
  is dropped (``duplicates``);
* a record older than what was already released cannot take its place in the order; it is
  dropped and counted (``late``): the stage-1 partition broke its promise (a record more
  than the grace older than its partition's newest);
* nothing is released before every origin partition gave a watermark.

Times are integer microseconds since the epoch. State is plain data.

>>> buffer = ReorderBuffer([("in", 0), ("in", 1)])
>>> buffer.add("in", 0, 0, 30, "a"), buffer.add("in", 1, 0, 10, "b"), buffer.add("in", 0, 1, 20, "c")
(True, True, True)
>>> buffer.advance("in", 0, 25); buffer.release()
[]
>>> buffer.advance("in", 1, 25); [item.payload for item in buffer.release()]
['b', 'c']
>>> buffer.add("in", 0, 1, 20, "c"), buffer.duplicates
(False, 1)
>>> buffer.add("in", 1, 1, 15, "d"), buffer.late
(False, 1)
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

__all__ = ["Buffered", "ReorderBuffer"]


class Buffered(NamedTuple):
    """One held record; tuples compare in the release order."""

    ts_us: int
    topic: str
    partition: int
    offset: int
    payload: str


class ReorderBuffer:
    """Holds records until the watermark passes them (see the module text)."""

    def __init__(self, origins: Iterable[tuple[str, int]]) -> None:
        self.origins = sorted({f"{topic}/{partition}" for topic, partition in origins})
        if not self.origins:
            raise ValueError("a reorder buffer needs at least one origin partition")
        self._watermarks: dict[str, int] = {}  # origin -> promised lower bound (us)
        self._next_offset: dict[str, int] = {}  # origin -> next offset not taken yet
        self._heap: list[Buffered] = []
        self._released_below: int | None = None  # everything older was released
        self.duplicates = 0
        self.late = 0

    def __len__(self) -> int:
        return len(self._heap)

    def add(self, topic: str, partition: int, offset: int, ts_us: int, payload: str) -> bool:
        """Hold one forwarded record; False if dropped (duplicate or late)."""
        origin = f"{topic}/{partition}"
        if offset < self._next_offset.get(origin, 0):
            self.duplicates += 1
            return False
        self._next_offset[origin] = offset + 1
        if self._released_below is not None and ts_us < self._released_below:
            self.late += 1
            return False
        heapq.heappush(self._heap, Buffered(ts_us, topic, partition, offset, payload))
        return True

    def advance(self, topic: str, partition: int, watermark_us: int) -> None:
        """The origin partition's promise: no record of it older than ``watermark_us``."""
        origin = f"{topic}/{partition}"
        if origin not in self.origins:
            return  # not an input of this job (a foreign writer): no say in the order
        if watermark_us > self._watermarks.get(origin, watermark_us - 1):
            self._watermarks[origin] = watermark_us

    @property
    def watermark(self) -> int | None:
        """The least promise over every origin partition (None: one has not spoken yet)."""
        if len(self._watermarks) < len(self.origins):
            return None
        return min(self._watermarks.values())

    def release(self) -> list[Buffered]:
        """The held records older than the watermark, in the release order."""
        watermark = self.watermark
        if watermark is None:
            return []
        out: list[Buffered] = []
        heap = self._heap
        while heap and heap[0].ts_us < watermark:
            out.append(heapq.heappop(heap))
        if self._released_below is None or watermark > self._released_below:
            self._released_below = watermark
        return out

    def to_state(self) -> dict[str, Any]:
        return {
            "origins": list(self.origins),
            "watermarks": dict(sorted(self._watermarks.items())),
            "next_offset": dict(sorted(self._next_offset.items())),
            "held": [list(item) for item in sorted(self._heap)],
            "released_below": self._released_below,
            "counts": [self.duplicates, self.late],
        }

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Load :meth:`to_state`; origins are this buffer's own (the input may have grown)."""
        self._watermarks = {
            str(k): int(v) for k, v in state["watermarks"].items() if str(k) in self.origins
        }
        self._next_offset = {str(k): int(v) for k, v in state["next_offset"].items()}
        self._heap = [
            Buffered(int(ts), str(topic), int(partition), int(offset), str(payload))
            for ts, topic, partition, offset, payload in state["held"]
        ]
        heapq.heapify(self._heap)
        below = state["released_below"]
        self._released_below = None if below is None else int(below)
        self.duplicates, self.late = (int(n) for n in state["counts"])
