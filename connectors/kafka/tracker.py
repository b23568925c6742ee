"""Per-key bookkeeping of a Kafka source: applied offsets, key → partition, changelog.

A line/station key's records all come from one partition (the producer keys by it), so
its detector state belongs to whichever worker owns that partition. The tracker keeps,
per key, the next offset of each topic-partition already applied to the key's state
(``applied``) and the partition the key lives in. The applied offsets travel with the
state (in the local checkpoint, in the changelog), so a record read again after a crash
or a rebalance, before its offset was committed, is recognised and not applied twice.

With a changelog the state moves between workers: before partitions are revoked the
tracker saves their changed keys and drops them from the runner; after partitions are
assigned it restores their keys, before any of their records is returned. Without one
(a single worker) a rebalance only flushes, and the worker keeps its keys.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from linewatch.connectors.kafka.state import KafkaStateStore
from linewatch.pipeline.models import KeyedStateHost, PartitionOffset, RawRecord

__all__ = ["KafkaStateTracker"]


class KafkaStateTracker:
    """Applied offsets and partitions per key, saved and restored on rebalances.

    ``resume`` is the ``{"applied": ..., "key_partition": ...}`` part of the source's
    :meth:`snapshot`, from a local checkpoint.
    """

    def __init__(
        self, changelog: KafkaStateStore | None = None, resume: Mapping[str, Any] | None = None
    ) -> None:
        self.changelog = changelog
        self._applied: dict[str, dict[str, int]] = _applied(resume or {})
        self._key_partition: dict[str, int] = _key_partition(resume or {})
        self._dirty: set[str] = set()  # keys changed since they were last saved
        self._host: KeyedStateHost | None = None

    def attach(self, host: KeyedStateHost) -> None:
        self._host = host

    def should_apply(self, key: str, raw: RawRecord) -> bool:
        """False for a record the key's state already holds; else mark it applied."""
        position = raw.position
        if not isinstance(position, PartitionOffset):
            return True
        topic_partition = f"{position[0]}/{position[1]}"
        applied = self._applied.get(key)
        if applied is None:
            applied = self._applied[key] = {}
        if position[2] < applied.get(topic_partition, 0):
            return False
        applied[topic_partition] = position[2] + 1
        self._key_partition[key] = position[1]
        self._dirty.add(key)
        return True

    def should_apply_all(self, key: str, raws: Sequence[RawRecord], mark: bool = True) -> bool:
        """:meth:`should_apply` for a key's records of one batch, in their order, when
        every one applies: they are marked applied (unless ``mark`` is false: only asked)
        and ``True`` comes back. Otherwise (a record the state already holds, several
        partitions, positions out of order) nothing changes and ``False`` says: ask
        record by record."""
        if not raws:
            return True
        first, last = raws[0].position, raws[-1].position
        if not isinstance(first, PartitionOffset) or not isinstance(last, PartitionOffset):
            return False
        topic, partition = first[0], first[1]
        previous = first[2] - 1
        try:
            for raw in raws:  # one partition, offsets rising: what a poll gives one key
                position = raw.position
                if position[1] != partition or position[2] <= previous or position[0] != topic:
                    return False
                previous = position[2]
        except (TypeError, IndexError):  # a position that is not a partition offset
            return False
        topic_partition = f"{topic}/{partition}"
        applied = self._applied.get(key)
        if applied is None:
            applied = self._applied[key] = {}
        if first[2] < applied.get(topic_partition, 0):
            return False
        if not mark:
            return True
        applied[topic_partition] = previous + 1
        self._key_partition[key] = partition
        self._dirty.add(key)
        return True

    def snapshot(self) -> dict[str, Any]:
        return {
            "applied": {k: dict(v) for k, v in sorted(self._applied.items())},
            "key_partition": dict(sorted(self._key_partition.items())),
        }

    def save(self) -> None:
        """Write the changed keys to the changelog (at a checkpoint, before the commit)."""
        if self.changelog is not None and self._dirty:
            self.changelog.save(self._entries(sorted(self._dirty)))
        self._dirty.clear()

    def revoked(self, partitions: list[tuple[str, int]]) -> None:
        """Before partitions go: flush, save their changed keys, drop them."""
        host = self._host
        if host is None:
            return  # no runner holds state for them
        host.revoking()
        if self.changelog is None:
            return  # one worker: a restart restores the keys from the local checkpoint
        revoked = {partition for _, partition in partitions}
        keys = sorted(k for k, p in self._key_partition.items() if p in revoked)
        self.changelog.save(self._entries([key for key in keys if key in self._dirty]))
        for key in keys:
            host.drop_key(key)
            del self._key_partition[key]
            self._applied.pop(key, None)
            self._dirty.discard(key)

    def assigned(self, partitions: list[tuple[str, int]]) -> None:
        """After partitions arrive: restore their keys before any record of theirs."""
        host = self._host
        if self.changelog is None or host is None:
            return
        numbers = sorted({partition for _, partition in partitions})
        for partition, key, blob in self.changelog.load(numbers):
            saved = msgspec.json.decode(blob)
            host.restore_key(key, saved["state"])
            self._applied[key] = {tp: int(o) for tp, o in saved["applied"].items()}
            self._key_partition[key] = partition

    def _entries(self, keys: list[str]) -> list[tuple[int, str, bytes | None]]:
        host = self._require_host()
        return [
            (
                self._key_partition[key],
                key,
                msgspec.json.encode(
                    {"state": host.snapshot_key(key), "applied": self._applied.get(key, {})}
                ),
            )
            for key in keys
        ]

    def _require_host(self) -> KeyedStateHost:
        if self._host is None:
            raise RuntimeError("the Kafka source was not attached to a runner")
        return self._host


def _applied(resume: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    applied = resume.get("applied", {})
    if not isinstance(applied, Mapping) or not all(
        isinstance(key, str)
        and isinstance(offsets, Mapping)
        and all(isinstance(tp, str) and _count(o) for tp, o in offsets.items())
        for key, offsets in applied.items()
    ):
        raise ValueError("source.applied must map keys to {topic/partition: offset >= 0}")
    return {key: dict(offsets) for key, offsets in applied.items()}


def _key_partition(resume: Mapping[str, Any]) -> dict[str, int]:
    partitions = resume.get("key_partition", {})
    if not isinstance(partitions, Mapping) or not all(
        isinstance(key, str) and _count(p) for key, p in partitions.items()
    ):
        raise ValueError("source.key_partition must map keys to partitions >= 0")
    return dict(partitions)


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
