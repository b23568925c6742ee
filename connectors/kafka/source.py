"""The Kafka source: a consumer group, committed by hand, with its per-key state tracker.

At-least-once: the source never auto-commits. :meth:`KafkaSource.commit` saves the
changed keys to the changelog (if any) and then commits the next offset of everything
polled so far; the runner calls it only after every sink has flushed. Rebalances are the
source's own business (:class:`~linewatch.connectors.kafka.tracker.KafkaStateTracker`):
the runner only answers :meth:`should_apply` per record and lends its per-key state
through :meth:`attach`. Both transports behave the same: confluent-kafka could commit
inside its revoke callback, but the state saved with its applied offsets already makes a
replayed record a no-op, whichever client reads it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from linewatch.connectors.kafka.clients import (
    ConsumerClient,
    TopicPartitionKey,
    Transport,
    check_transport,
)
from linewatch.connectors.kafka.state import KafkaStateStore
from linewatch.connectors.kafka.tracker import KafkaStateTracker
from linewatch.pipeline.models import KeyedStateHost, RawRecord

__all__ = ["KafkaSource"]


class KafkaSource:
    """Consumes wire records from topics in a consumer group, committing by hand.

    ``resume`` is what :meth:`snapshot` gave at the last local checkpoint (the applied
    offsets and partition of every key; the committed offsets stay in Kafka).
    ``changelog`` moves per-key state between the workers of the group.
    ``idle_exit_s`` makes a bounded run: the source is exhausted after that many seconds
    without a record (``None``: run until stopped). ``max_batch_wait_ms`` bounds how long
    a record waits for its batch to fill: a poll returns what it has once its first record
    waited that long (0: what the client holds right now), so latency stays bounded at a
    low rate while a backlog still comes in full ``batch_size`` batches. ``consumer_config`` goes to the
    transport's client as it is (librdkafka's dotted names for ``confluent``,
    kafka-python's keyword names for ``kafka-python``).
    """

    def __init__(
        self,
        bootstrap: str,
        topics: Sequence[str],
        group_id: str,
        *,
        batch_size: int = 5000,
        max_batch_wait_ms: float = 10.0,
        idle_exit_s: float | None = None,
        changelog: KafkaStateStore | None = None,
        resume: Mapping[str, Any] | None = None,
        consumer_config: Mapping[str, Any] | None = None,
        transport: Transport = "confluent",
    ) -> None:
        self.bootstrap = bootstrap
        self.topics = topics
        self.group_id = group_id
        self.batch_size = batch_size
        if not 0 <= max_batch_wait_ms <= 60_000:
            raise ValueError(f"max_batch_wait_ms must be 0..60000, got {max_batch_wait_ms}")
        self.max_batch_wait_s = max_batch_wait_ms / 1000
        self.idle_exit_s = idle_exit_s
        self.consumer_config = consumer_config
        self.transport = check_transport(transport)
        self.tracker = KafkaStateTracker(changelog, resume)
        self._next: dict[TopicPartitionKey, int] = {}  # next offset to commit, per partition
        self._last_record_at = time.monotonic()
        self._exhausted = False
        client: type[Any]
        if self.transport == "confluent":
            from linewatch.connectors.kafka.confluent import ConfluentConsumer as client
        else:
            from linewatch.connectors.kafka.kafka_python import KafkaPythonConsumer as client
        self._client: ConsumerClient = client(
            bootstrap,
            topics,
            group_id,
            batch_size=batch_size,
            on_revoke=self._revoked,
            on_assign=self._assigned,
            consumer_config=consumer_config,
        )

    def _revoked(self, partitions: list[TopicPartitionKey]) -> None:
        self.tracker.revoked(partitions)
        for partition in partitions:  # uncommitted: the next owner starts at the last commit
            self._next.pop(partition, None)

    def _assigned(self, partitions: list[TopicPartitionKey]) -> None:
        self.tracker.assigned(partitions)

    # -- KeyedSource: the runner's side ---------------------------------------------------

    def attach(self, host: KeyedStateHost) -> None:
        self.tracker.attach(host)

    def should_apply(self, key: str, raw: RawRecord) -> bool:
        return self.tracker.should_apply(key, raw)

    def should_apply_all(self, key: str, raws: Sequence[RawRecord], mark: bool = True) -> bool:
        return self.tracker.should_apply_all(key, raws, mark)

    def poll(self, timeout: float) -> list[RawRecord]:
        """Up to ``batch_size`` records; ``[]`` after ``timeout`` seconds without one.

        Both clients return what they already hold at once (confluent-kafka's ``consume``
        is asked with no wait first, see ``ConfluentConsumer.poll``); an empty client is
        waited on in slices of ``max_batch_wait_ms``: a slice that brings records ends the
        poll, and none of them waited longer than the slice.
        """
        deadline = time.monotonic() + timeout
        slice_s = max(self.max_batch_wait_s, 0.001)  # 0 would spin while idle
        while True:
            wait = min(slice_s, max(deadline - time.monotonic(), 0.0))
            batch, next_offsets = self._client.poll(wait, self.batch_size)
            self._next.update(next_offsets)
            now = time.monotonic()
            if batch or now >= deadline:
                break
        if batch:
            self._last_record_at = now
        elif self.idle_exit_s is not None and now - self._last_record_at >= self.idle_exit_s:
            self._exhausted = True
        return batch

    def commit(self, retry_for_s: float = 120.0) -> None:
        """Commit the next offset of every partition polled so far (synchronously).

        The changed keys go to the changelog first. Retriable errors (a broker restarting, a coordinator moving) are retried for up to
        ``retry_for_s``. A commit refused because the group rebalanced is logged and
        dropped: the new owner of those partitions reprocesses from the last commit, which
        at-least-once allows.
        """
        self.tracker.save()
        if self._next:
            self._client.commit(dict(self._next), retry_for_s)

    @property
    def exhausted(self) -> bool:
        return self._exhausted

    def snapshot(self) -> dict[str, Any]:
        offsets = {f"{t}/{p}": o for (t, p), o in sorted(self._next.items())}
        return {"offsets": offsets, **self.tracker.snapshot()}

    def assignment(self) -> list[tuple[str, int]]:
        return self._client.assignment()

    def lag(self) -> dict[TopicPartitionKey, int]:
        """Records behind the high watermark, per assigned partition (see the clients)."""
        return self._client.lag(self._next)

    def close(self) -> None:
        self._client.close()  # its last revoke still saves the changed keys
        if self.tracker.changelog is not None:
            self.tracker.changelog.close()
