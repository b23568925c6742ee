"""Kafka source, sinks, dead-letter topic and changelog state store (kafka-python).

At-least-once: the source never auto-commits. :meth:`KafkaSource.commit` commits the
offsets of everything polled so far, and the runner calls it only after every sink has
flushed. Producers use ``acks=all``, retries and idempotence, so a broker failover loses
nothing and a retried send is not written twice.

A rebalance calls back into the runner: before partitions are revoked it checkpoints
(flush, save state of the revoked keys, commit); after partitions are assigned it restores
the state of their keys from the changelog, before any of their records is returned.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import msgspec

from linewatch.pipeline.models import (
    Alert,
    ChartPoint,
    DeadLetter,
    Output,
    PartitionOffset,
    RawRecord,
    SinkError,
    WireRecord,
)

__all__ = [
    "KafkaAlertSink",
    "KafkaDeadLetterSink",
    "KafkaSource",
    "KafkaStateStore",
    "ensure_topics",
    "parse_kafka_url",
    "partition_counts",
    "produce_records",
    "producer_settings",
]

log = logging.getLogger(__name__)


def _kafka() -> Any:
    try:
        import kafka
    except ImportError as exc:
        raise ImportError("Kafka needs kafka-python: pip install 'linewatch[kafka]'") from exc
    return kafka


def parse_kafka_url(url: str) -> tuple[str, str]:
    """``kafka://HOST:PORT/TOPIC`` as ``(bootstrap, topic)``.

    >>> parse_kafka_url("kafka://127.0.0.1:9092/line-events")
    ('127.0.0.1:9092', 'line-events')
    >>> parse_kafka_url("http://x/y")
    Traceback (most recent call last):
    ...
    ValueError: 'http://x/y' is not kafka://HOST:PORT/TOPIC
    """
    prefix = "kafka://"
    rest = url[len(prefix) :] if url.startswith(prefix) else ""
    bootstrap, _, topic = rest.partition("/")
    if not bootstrap or not topic or "/" in topic:
        raise ValueError(f"{url!r} is not kafka://HOST:PORT/TOPIC")
    return bootstrap, topic


def producer_settings(bootstrap: str, **overrides: Any) -> dict[str, Any]:
    """Producer settings that do not lose data: acks=all, retries, idempotence."""
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


def produce_records(records: Iterable[WireRecord], url: str) -> int:
    """Produce wire records to ``kafka://HOST:PORT/TOPIC`` keyed by ``line/station``."""
    bootstrap, topic = parse_kafka_url(url)
    sink = _ProducerSink(bootstrap)
    count = 0
    try:
        for record in records:
            sink._send(topic, sink._encoder.encode(record), record.stream_key.encode())
            count += 1
            if count % 50_000 == 0:
                sink.flush()  # bounds the futures kept in memory
    finally:
        sink.close()
    return count


class KafkaSource:
    """Consumes wire records from topics in a consumer group, committing by hand.

    ``on_revoke(partitions)`` runs before partitions are taken away (checkpoint there);
    ``on_assign(partitions)`` runs after new ones arrive and before their records are
    returned (restore state there). Partitions are ``(topic, partition)`` pairs.
    ``idle_exit_s`` makes a bounded run: the source is exhausted after that many seconds
    without a record (``None``: run until stopped).
    """

    def __init__(
        self,
        bootstrap: str,
        topics: Sequence[str],
        group_id: str,
        *,
        batch_size: int = 5000,
        idle_exit_s: float | None = None,
        on_revoke: Callable[[list[tuple[str, int]]], None] | None = None,
        on_assign: Callable[[list[tuple[str, int]]], None] | None = None,
        consumer_config: Mapping[str, Any] | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.topics = topics
        self.group_id = group_id
        self.batch_size = batch_size
        self.idle_exit_s = idle_exit_s
        self.on_revoke = on_revoke
        self.on_assign = on_assign
        self.consumer_config = consumer_config
        kafka = _kafka()
        settings: dict[str, Any] = {
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
        settings.update(consumer_config or {})
        self._consumer = kafka.KafkaConsumer(**settings)
        self._consumer.subscribe(list(topics), listener=self._listener(kafka))
        self._next: dict[tuple[str, int], int] = {}  # next offset to commit, per partition
        self._assigned_pending: list[tuple[str, int]] = []
        self._last_record_at = time.monotonic()
        self._exhausted = False

    def _listener(self, kafka: Any) -> Any:
        source = self

        class Listener(kafka.ConsumerRebalanceListener):  # type: ignore[misc]
            # kafka-python runs these on the consumer's IO thread, inside poll(), while the
            # caller waits in poll(): nothing is processed concurrently. The consumer itself
            # must not be called from here (no commit), but other clients may be.
            def on_partitions_revoked(self, revoked: Any) -> None:
                partitions = sorted((tp.topic, tp.partition) for tp in revoked)
                if partitions and source.on_revoke is not None:
                    source.on_revoke(partitions)
                for partition in partitions:
                    source._next.pop(partition, None)
                source._assigned_pending = [
                    p for p in source._assigned_pending if p not in set(partitions)
                ]

            def on_partitions_assigned(self, assigned: Any) -> None:
                # Restored in poll(), on the caller's thread, before any record is returned.
                source._assigned_pending.extend(sorted((tp.topic, tp.partition) for tp in assigned))

        return Listener()

    def poll(self, timeout: float) -> list[RawRecord]:
        fetched = self._consumer.poll(timeout_ms=int(timeout * 1000), max_records=self.batch_size)
        if self._assigned_pending:
            assigned, self._assigned_pending = self._assigned_pending, []
            if self.on_assign is not None:
                self.on_assign(assigned)
        batch: list[RawRecord] = []
        for tp, messages in fetched.items():
            for message in messages:
                headers = tuple((k, v or b"") for k, v in (message.headers or ()))
                batch.append(
                    RawRecord(
                        payload=message.value if message.value is not None else b"",
                        origin=f"{tp.topic}/{tp.partition}@{message.offset}",
                        key=message.key,
                        headers=headers,
                        position=PartitionOffset(tp.topic, tp.partition, message.offset),
                    )
                )
            if messages:
                self._next[(tp.topic, tp.partition)] = messages[-1].offset + 1
        now = time.monotonic()
        if batch:
            self._last_record_at = now
        elif self.idle_exit_s is not None and now - self._last_record_at >= self.idle_exit_s:
            self._exhausted = True
        return batch

    def commit(self, retry_for_s: float = 120.0) -> None:
        """Commit the next offset of every partition polled so far (synchronously).

        Retriable errors (a broker restarting, a coordinator moving) are retried for up to
        ``retry_for_s``. A commit refused because the group rebalanced is logged and
        dropped: the new owner of those partitions reprocesses from the last commit, which
        at-least-once allows.
        """
        if not self._next:
            return
        kafka = _kafka()
        from kafka.errors import CommitFailedError, KafkaError

        offsets = {
            kafka.TopicPartition(topic, partition): kafka.OffsetAndMetadata(offset, "", -1)
            for (topic, partition), offset in self._next.items()
        }
        deadline = time.monotonic() + retry_for_s
        delay = 0.1
        while True:
            try:
                self._consumer.commit(offsets=offsets)
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

    @property
    def exhausted(self) -> bool:
        return self._exhausted

    def position(self) -> dict[str, Any]:
        return {"offsets": {f"{t}/{p}": o for (t, p), o in sorted(self._next.items())}}

    def assignment(self) -> list[tuple[str, int]]:
        return sorted((tp.topic, tp.partition) for tp in self._consumer.assignment())

    def close(self) -> None:
        self._consumer.close(autocommit=False)


class _ProducerSink:
    """Shared producer plumbing: send per item, wait for every ack at flush."""

    def __init__(self, bootstrap: str, producer_config: Mapping[str, Any] | None = None) -> None:
        kafka = _kafka()
        self._producer = kafka.KafkaProducer(
            **producer_settings(bootstrap, **(producer_config or {}))
        )
        self._futures: list[Any] = []
        self._encoder = msgspec.json.Encoder()

    def _send(
        self,
        topic: str,
        value: bytes,
        key: bytes | None,
        headers: list[tuple[str, bytes]] | None = None,
        partition: int | None = None,
    ) -> None:
        self._futures.append(
            self._producer.send(topic, value=value, key=key, headers=headers, partition=partition)
        )

    def flush(self) -> None:
        """Wait until the broker acknowledged everything sent; raise if any send failed."""
        self._producer.flush()
        failures = []
        for future in self._futures:
            if future.failed():
                failures.append(future.exception)
        self._futures.clear()
        if failures:
            raise SinkError(f"{len(failures)} message(s) not acknowledged: {failures[0]!r}")

    def close(self) -> None:
        self.flush()
        self._producer.close()


class KafkaAlertSink(_ProducerSink):
    """Alerts to a topic keyed by fingerprint; chart points to another, optionally."""

    def __init__(
        self,
        bootstrap: str,
        alerts_topic: str,
        points_topic: str | None = None,
        producer_config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(bootstrap, producer_config)
        self.bootstrap = bootstrap
        self.alerts_topic = alerts_topic
        self.points_topic = points_topic
        self.producer_config = producer_config

    def add(self, item: Output | WireRecord) -> None:
        if isinstance(item, Alert):
            self._send(self.alerts_topic, self._encoder.encode(item), item.fingerprint.encode())
        elif isinstance(item, ChartPoint) and self.points_topic is not None:
            key = f"{item.line}/{item.station}".encode()
            self._send(self.points_topic, self._encoder.encode(item), key)


class KafkaDeadLetterSink(_ProducerSink):
    """Dead letters keep the original key, bytes and headers; context goes into headers.

    Headers added (Kafka Connect's convention, under a ``linewatch.`` prefix):
    ``linewatch.dlq.reason``, ``linewatch.dlq.origin``, and for Kafka input
    ``linewatch.dlq.topic``, ``linewatch.dlq.partition``, ``linewatch.dlq.offset``.
    """

    def __init__(
        self, bootstrap: str, topic: str, producer_config: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(bootstrap, producer_config)
        self.bootstrap = bootstrap
        self.topic = topic
        self.producer_config = producer_config

    def add(self, item: Output | WireRecord) -> None:
        if not isinstance(item, DeadLetter):
            return
        headers = [(k, v.encode()) for k, v in item.headers.items()]
        headers.append(("linewatch.dlq.reason", item.reason.encode()))
        headers.append(("linewatch.dlq.origin", item.origin.encode()))
        for name, value in item.source.items():
            headers.append((f"linewatch.dlq.{name}", str(value).encode()))
        key = item.key.encode() if item.key is not None else None
        self._send(self.topic, item.original_bytes(), key, headers)


class KafkaStateStore:
    """Detector state per stream key in a compacted topic, like a Kafka Streams changelog.

    The changelog has as many partitions as the input topics, and the state of a key is
    written to the partition its records come from, so a worker that is assigned input
    partition ``p`` restores by reading changelog partition ``p`` to its end.
    """

    def __init__(
        self, bootstrap: str, topic: str, producer_config: Mapping[str, Any] | None = None
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.producer_config = producer_config
        self._sink = _ProducerSink(bootstrap, producer_config)

    def ensure_topic(self, partitions: int) -> None:
        """Create the compacted changelog topic if it does not exist."""
        ensure_topics(
            self.bootstrap,
            {self.topic: partitions},
            config={"cleanup.policy": "compact", "min.compaction.lag.ms": "0"},
        )

    def save(self, entries: Iterable[tuple[int, str, bytes | None]]) -> None:
        """Write ``(partition, key, state)`` entries and wait for the acks; None deletes."""
        for partition, key, state in entries:
            self._sink._send(
                self.topic, state if state is not None else b"", key.encode(), partition=partition
            )
        self._sink.flush()

    def load(
        self, partitions: Iterable[int], timeout_s: float = 30.0
    ) -> list[tuple[int, str, bytes]]:
        """The latest ``(partition, key, state)`` of every key in these changelog partitions."""
        kafka = _kafka()
        wanted = [kafka.TopicPartition(self.topic, p) for p in partitions]
        if not wanted:
            return []
        consumer = kafka.KafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, group_id=None
        )
        try:
            consumer.assign(wanted)
            consumer.seek_to_beginning(*wanted)
            ends = consumer.end_offsets(wanted)
            states: dict[str, tuple[int, bytes]] = {}
            deadline = time.monotonic() + timeout_s
            while any(consumer.position(tp) < ends[tp] for tp in wanted):
                if time.monotonic() > deadline:
                    raise SinkError(
                        f"changelog {self.topic}: restore did not finish in {timeout_s:g} s"
                    )
                for messages in consumer.poll(timeout_ms=500).values():
                    for message in messages:
                        key = message.key.decode()
                        if message.value:
                            states[key] = (message.partition, message.value)
                        else:
                            states.pop(key, None)
            return [(partition, key, value) for key, (partition, value) in sorted(states.items())]
        finally:
            consumer.close(autocommit=False)

    def close(self) -> None:
        self._sink.close()


def ensure_topics(
    bootstrap: str,
    topics: Mapping[str, int],
    config: Mapping[str, str] | None = None,
    replication: int = 1,
) -> None:
    """Create topics that do not exist yet, with the given partition counts."""
    kafka = _kafka()
    from kafka.errors import TopicAlreadyExistsError

    admin = kafka.KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        existing = set(admin.list_topics())
        new = {
            name: {
                "num_partitions": partitions,
                "replication_factor": replication,
                "configs": dict(config or {}),
            }
            for name, partitions in topics.items()
            if name not in existing
        }
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker was first
                admin.create_topics(new, wait_for_metadata=True)
    finally:
        admin.close()


def partition_counts(
    bootstrap: str, topics: Sequence[str], timeout_s: float = 30.0
) -> dict[str, int]:
    """How many partitions each topic has (waits for metadata up to ``timeout_s``)."""
    kafka = _kafka()
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
