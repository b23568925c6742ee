"""The kafka-python transport: pure Python, for installs without a C extension.

kafka-python runs the rebalance listener inside ``poll()`` on the caller's thread, but
the consumer must not be called from it (no commit there), so assigned partitions are
handed on when ``poll()`` returns, before any record is built.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from linewatch.connectors.kafka.clients import PartitionCallback, TopicPartitionKey, import_client
from linewatch.pipeline.models import PartitionOffset, RawRecord, SinkError

__all__ = [
    "KafkaPythonConsumer",
    "KafkaPythonProducer",
    "consumer_settings",
    "create_topics",
    "producer_settings",
    "read_to_end",
    "topic_partitions",
]

log = logging.getLogger(__name__)


#: The shortest poll that waits: kafka-python drives its group join from ``poll``, and
#: polls of 10 ms never completed it (a fresh consumer unassigned after 60 s; 50 ms
#: joins in seconds). A zero timeout still only takes what the client holds.
MIN_WAIT_S = 0.05


def producer_settings(bootstrap: str, **overrides: Any) -> dict[str, Any]:
    """kafka-python producer settings that do not lose data: acks=all, retries, idempotence."""
    settings: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "acks": "all",
        "enable_idempotence": True,
        "retries": 2**31 - 1,
        "max_in_flight_requests_per_connection": 5,
        "linger_ms": 5,
        "batch_size": 256 * 1024,
        "compression_type": "gzip",
        "request_timeout_ms": 30_000,
        "delivery_timeout_ms": 120_000,
    }
    settings.update(overrides)
    return settings


def consumer_settings(bootstrap: str, group_id: str, batch_size: int) -> dict[str, Any]:
    """A group consumer that commits by hand and starts at the earliest offset."""
    return {
        "bootstrap_servers": bootstrap,
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_poll_records": batch_size,
        "fetch_max_bytes": 64 * 1024 * 1024,
        "max_partition_fetch_bytes": 8 * 1024 * 1024,
        "session_timeout_ms": 10_000,
        "heartbeat_interval_ms": 1_000,
        "max_poll_interval_ms": 300_000,
    }


class KafkaPythonConsumer:
    """:class:`~linewatch.connectors.kafka.clients.ConsumerClient` on kafka-python."""

    def __init__(
        self,
        bootstrap: str,
        topics: Sequence[str],
        group_id: str,
        *,
        batch_size: int,
        on_revoke: PartitionCallback,
        on_assign: PartitionCallback,
        consumer_config: Mapping[str, Any] | None = None,
    ) -> None:
        kafka = import_client("kafka-python")
        settings = consumer_settings(bootstrap, group_id, batch_size)
        settings.update(consumer_config or {})
        self._on_revoke = on_revoke
        self._on_assign = on_assign
        self._assigned_pending: list[TopicPartitionKey] = []
        self._consumer = kafka.KafkaConsumer(**settings)
        self._consumer.subscribe(list(topics), listener=self._listener(kafka))

    def _listener(self, kafka: Any) -> Any:
        client = self

        class Listener(kafka.ConsumerRebalanceListener):  # type: ignore[misc]
            def on_partitions_revoked(self, revoked: Any) -> None:
                partitions = sorted((tp.topic, tp.partition) for tp in revoked)
                gone = set(partitions)
                client._assigned_pending = [p for p in client._assigned_pending if p not in gone]
                if partitions:
                    client._on_revoke(partitions)

            def on_partitions_assigned(self, assigned: Any) -> None:
                client._assigned_pending.extend(sorted((tp.topic, tp.partition) for tp in assigned))

        return Listener()

    def poll(
        self, timeout: float, max_records: int
    ) -> tuple[list[RawRecord], dict[TopicPartitionKey, int]]:
        if 0 < timeout < MIN_WAIT_S:
            timeout = MIN_WAIT_S
        fetched = self._consumer.poll(timeout_ms=int(timeout * 1000), max_records=max_records)
        if self._assigned_pending:
            assigned, self._assigned_pending = self._assigned_pending, []
            self._on_assign(assigned)
        batch: list[RawRecord] = []
        next_offsets: dict[TopicPartitionKey, int] = {}
        for tp, messages in fetched.items():
            topic, partition = tp.topic, tp.partition
            for message in messages:
                headers = tuple((k, v or b"") for k, v in (message.headers or ()))
                batch.append(
                    RawRecord(
                        payload=message.value if message.value is not None else b"",
                        origin=f"{topic}/{partition}@{message.offset}",
                        key=message.key,
                        headers=headers,
                        position=PartitionOffset(topic, partition, message.offset),
                    )
                )
            if messages:
                next_offsets[(topic, partition)] = messages[-1].offset + 1
        return batch, next_offsets

    def commit(self, offsets: Mapping[TopicPartitionKey, int], retry_for_s: float) -> None:
        kafka = import_client("kafka-python")
        from kafka.errors import CommitFailedError, KafkaError

        wanted = {
            kafka.TopicPartition(topic, partition): kafka.OffsetAndMetadata(offset, "", -1)
            for (topic, partition), offset in offsets.items()
        }
        deadline = time.monotonic() + retry_for_s
        delay = 0.1
        while True:
            try:
                self._consumer.commit(offsets=wanted)
                return
            except CommitFailedError as exc:
                log.warning("commit refused after a rebalance; the new owner reprocesses: %s", exc)
                return
            except KafkaError as exc:
                if not getattr(exc, "retriable", False) or time.monotonic() > deadline:
                    raise
                log.warning("commit failed (%s); retrying in %.1f s", exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def assignment(self) -> list[TopicPartitionKey]:
        return sorted((tp.topic, tp.partition) for tp in self._consumer.assignment())

    def lag(self, positions: Mapping[TopicPartitionKey, int]) -> dict[TopicPartitionKey, int]:
        behind: dict[TopicPartitionKey, int] = {}
        for tp in self._consumer.assignment():
            key = (tp.topic, tp.partition)
            high = self._consumer.highwater(tp)  # from the last fetch response, or None
            # its position() may block for a broker round trip: polled partitions only
            position = positions.get(key)
            if high is not None and position is not None:
                behind[key] = max(high - position, 0)
        return behind

    def close(self) -> None:
        self._consumer.close(autocommit=False)


class KafkaPythonProducer:
    """:class:`~linewatch.connectors.kafka.clients.ProducerClient` on kafka-python."""

    def __init__(self, bootstrap: str, producer_config: Mapping[str, Any] | None = None) -> None:
        kafka = import_client("kafka-python")
        self._producer = kafka.KafkaProducer(
            **producer_settings(bootstrap, **(producer_config or {}))
        )
        self._futures: list[Any] = []

    def send(
        self,
        topic: str,
        value: bytes,
        key: bytes | None,
        headers: list[tuple[str, bytes]] | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
    ) -> None:
        self._futures.append(
            self._producer.send(
                topic,
                value=value,
                key=key,
                headers=headers,
                partition=partition,
                timestamp_ms=timestamp_ms,
            )
        )

    def flush(self) -> None:
        self._producer.flush()
        failures = [future.exception for future in self._futures if future.failed()]
        self._futures.clear()
        if failures:
            raise SinkError(f"{len(failures)} message(s) not acknowledged: {failures[0]!r}")

    def close(self) -> None:
        self.flush()
        self._producer.close()


def read_to_end(
    bootstrap: str, topic: str, partitions: Sequence[int], timeout_s: float
) -> Iterator[tuple[int, bytes, bytes | None]]:
    """Every ``(partition, key, value)`` of these partitions, from the start to the end."""
    kafka = import_client("kafka-python")
    wanted = [kafka.TopicPartition(topic, p) for p in partitions]
    consumer = kafka.KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None
    )
    try:
        consumer.assign(wanted)
        consumer.seek_to_beginning(*wanted)
        ends = consumer.end_offsets(wanted)
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < ends[tp] for tp in wanted):
            if time.monotonic() > deadline:
                raise SinkError(f"changelog {topic}: restore did not finish in {timeout_s:g} s")
            for messages in consumer.poll(timeout_ms=500).values():
                for message in messages:
                    yield message.partition, message.key or b"", message.value
    finally:
        consumer.close(autocommit=False)


def create_topics(
    bootstrap: str, topics: Mapping[str, int], config: Mapping[str, str], replication: int
) -> None:
    """Create the topics that do not exist yet (another worker may be first)."""
    kafka = import_client("kafka-python")
    from kafka.errors import TopicAlreadyExistsError

    admin = kafka.KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        existing = set(admin.list_topics())
        new = {
            name: {
                "num_partitions": partitions,
                "replication_factor": replication,
                "configs": dict(config),
            }
            for name, partitions in topics.items()
            if name not in existing
        }
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(new, wait_for_metadata=True)
    finally:
        admin.close()


def topic_partitions(bootstrap: str, topics: Sequence[str], timeout_s: float) -> dict[str, int]:
    """How many partitions each topic has, waiting for metadata up to ``timeout_s``."""
    kafka = import_client("kafka-python")
    consumer = kafka.KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        counts: dict[str, int] = {}
        deadline = time.monotonic() + timeout_s
        for topic in topics:
            while True:
                partitions = consumer.partitions_for_topic(topic)
                if partitions:
                    counts[topic] = len(partitions)
                    break
                if time.monotonic() > deadline:
                    raise SinkError(f"topic {topic!r} not found on {bootstrap}")
                time.sleep(0.2)
        return counts
    finally:
        consumer.close()
