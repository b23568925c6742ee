"""The Kafka source's per-key bookkeeping, through the real runner, without a broker.

A source that hands the runner records with Kafka positions and owns a
:class:`KafkaStateTracker` behaves like a Kafka source after a crash: the records read
again after the last checkpoint are skipped if their key's state already holds them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import pytest

from linewatch.connectors.kafka.tracker import KafkaStateTracker
from linewatch.connectors.memory import ListSink
from linewatch.pipeline.checkpoint import LocalStateStore
from linewatch.pipeline.engine import Engine
from linewatch.pipeline.models import (
    Alert,
    KeyedSource,
    KeyedStateHost,
    PartitionOffset,
    RawRecord,
)
from linewatch.pipeline.runner import Route, Runner
from tests.unit.test_runner import CONFIG, measurement, values


class PartitionSource:
    """Records of one partition ``events/0`` in order, with their offsets, then exhausted."""

    def __init__(self, payloads: Sequence[bytes], first_offset: int, resume: Any = None) -> None:
        self._payloads = list(payloads)
        self._offset = first_offset
        self.tracker = KafkaStateTracker(resume=resume)

    def poll(self, timeout: float) -> list[RawRecord]:
        batch = [
            RawRecord(
                p,
                f"events/0@{self._offset + n}",
                position=PartitionOffset("events", 0, self._offset + n),
            )
            for n, p in enumerate(self._payloads[:10])
        ]
        self._offset += len(batch)
        del self._payloads[: len(batch)]
        return batch

    def commit(self) -> None:
        self.tracker.save()

    @property
    def exhausted(self) -> bool:
        return not self._payloads

    def snapshot(self) -> dict[str, Any]:
        return self.tracker.snapshot()

    def close(self) -> None:
        pass

    def attach(self, host: KeyedStateHost) -> None:
        self.tracker.attach(host)

    def should_apply(self, key: str, raw: RawRecord) -> bool:
        return self.tracker.should_apply(key, raw)


def payloads(n: int) -> list[bytes]:
    return [msgspec.json.encode(measurement(i, v)) for i, v in enumerate(values(n, shift_at=100))]


def run(source: PartitionSource, store: LocalStateStore | None = None) -> tuple[Runner, ListSink]:
    sink = ListSink()
    runner = Runner(
        Engine(CONFIG), source, [Route(sink, frozenset({"alerts"}))], ListSink(), state_store=store
    )
    if store is not None and (checkpoint := store.load()) is not None:
        runner.restore(checkpoint)
    runner.run()
    return runner, sink


def test_a_record_read_again_after_the_checkpoint_is_applied_once(tmp_path: Any) -> None:
    records = payloads(200)
    straight_source = PartitionSource(records, 0)
    assert isinstance(straight_source, KeyedSource)
    _, straight = run(straight_source)
    expected = [a for a in straight.items if isinstance(a, Alert)]
    assert len(expected) == 3

    # The first worker applies offsets 0..129 and checkpoints; its commit is lost, so the
    # next one is built from that checkpoint and reads from offset 100 again.
    store = LocalStateStore(tmp_path / "state")
    _, first_sink = run(PartitionSource(records[:130], 0), store)
    checkpoint = store.load()
    assert checkpoint is not None
    assert checkpoint.source == {
        "applied": {"L3/weld-2": {"events/0": 130}},
        "key_partition": {"L3/weld-2": 0},
    }
    second, second_sink = run(PartitionSource(records[100:], 100, resume=checkpoint.source), store)
    assert second.summary.records_skipped == 30  # offsets 100..129 are in the state
    assert second.summary.records_processed == 70
    resumed = [a for a in first_sink.items + second_sink.items if isinstance(a, Alert)]
    assert resumed == expected


@pytest.mark.parametrize(
    ("resume", "message"),
    [
        ({"applied": {"L1/a": {"t/0": -1}}}, "source.applied must map keys to"),
        ({"applied": ["L1/a"]}, "source.applied must map keys to"),
        ({"key_partition": {"L1/a": "0"}}, "source.key_partition must map keys to partitions >= 0"),
    ],
)
def test_a_resume_state_that_is_not_the_trackers_is_refused(resume: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        KafkaStateTracker(resume=resume)


def test_a_tracker_without_a_runner_ignores_rebalances() -> None:
    tracker = KafkaStateTracker()
    raw = RawRecord(b"{}", "t/0@5", position=PartitionOffset("t", 0, 5))
    assert tracker.should_apply("L1/a", raw) is True
    assert tracker.should_apply("L1/a", raw) is False  # the same offset again
    tracker.revoked([("t", 0)])
    tracker.assigned([("t", 0)])
    assert tracker.snapshot() == {"applied": {"L1/a": {"t/0": 6}}, "key_partition": {"L1/a": 0}}
    assert tracker.should_apply("L1/b", RawRecord(b"{}", "file:1", position=1)) is True
