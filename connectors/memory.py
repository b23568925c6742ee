"""In-memory source and sink: test doubles that ship with the library.

>>> from linewatch.pipeline.models import RawRecord
>>> source = IterableSource([b'{"a":1}', b'{"a":2}'], batch_size=1)
>>> [r.origin for r in source.poll(0.0)], source.exhausted
(['memory:1'], False)
>>> sink = ListSink()
>>> sink.add("x"); sink.flush(); sink.items
['x']
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from linewatch.pipeline.models import BackpressureError, Output, RawRecord, WireRecord

__all__ = ["IterableSource", "ListSink"]


class IterableSource:
    """Hands out records from any iterable (bytes, dicts or wire records) in batches."""

    def __init__(
        self,
        records: Iterable[bytes | dict[str, Any] | WireRecord],
        name: str = "memory",
        batch_size: int = 1000,
        start_after: int = 0,
        resume: Mapping[str, Any] | None = None,
    ) -> None:
        if resume is not None:  # what snapshot() gave: the records already handed out
            start_after = resume.get("records", 0)
            if not isinstance(start_after, int) or isinstance(start_after, bool) or start_after < 0:
                raise ValueError(f"source.records must be a whole number >= 0, got {start_after!r}")
        self.records = records
        self.name = name
        self.batch_size = batch_size
        self.start_after = start_after
        self._iterator: Iterator[bytes | dict[str, Any] | WireRecord] = iter(records)
        self._consumed = 0
        self._committed = 0
        self._exhausted = False
        for _ in range(start_after):
            if next(self._iterator, None) is None:
                break
            self._consumed += 1
        self._committed = self._consumed
        self.commits = 0

    def poll(self, timeout: float) -> list[RawRecord]:
        batch: list[RawRecord] = []
        if self._exhausted:
            return batch
        for payload in self._iterator:
            self._consumed += 1
            batch.append(
                RawRecord(payload, f"{self.name}:{self._consumed}", position=self._consumed)
            )
            if len(batch) >= self.batch_size:
                break
        else:
            self._exhausted = True
        return batch

    def commit(self) -> None:
        self._committed = self._consumed
        self.commits += 1

    @property
    def exhausted(self) -> bool:
        return self._exhausted

    def snapshot(self) -> dict[str, Any]:
        return {"name": self.name, "records": self._consumed}

    def close(self) -> None:
        pass


class ListSink:
    """Keeps flushed items in ``items``; can refuse flushes to test backpressure.

    ``refuse_flushes`` makes the next N flushes raise :class:`BackpressureError`.
    """

    def __init__(self, refuse_flushes: int = 0, retry_after: float = 0.01) -> None:
        self.refuse_flushes = refuse_flushes
        self.retry_after = retry_after
        self.items: list[Output | WireRecord] = []
        self.pending: list[Output | WireRecord] = []
        self.flushes = 0
        self.closed = False

    def add(self, item: Output | WireRecord) -> None:
        self.pending.append(item)

    def flush(self) -> None:
        if self.refuse_flushes > 0:
            self.refuse_flushes -= 1
            raise BackpressureError("ListSink refuses this flush", retry_after=self.retry_after)
        self.items.extend(self.pending)
        self.pending.clear()
        self.flushes += 1

    def close(self) -> None:
        self.closed = True
