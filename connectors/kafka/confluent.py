"""The confluent-kafka transport (librdkafka): the default.

librdkafka runs the rebalance callbacks inside ``consume()`` on the caller's thread, so
the runner's flush and state save run there, before the partitions go away, and a
restore runs before librdkafka starts fetching the new partitions. Producers are
idempotent (``enable.idempotence``) and key with murmur2, as the Java client and
kafka-python do, so every producer puts a line/station into the same partition.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from linewatch.connectors.kafka.clients import PartitionCallback, TopicPartitionKey, import_client
from linewatch.pipeline.models import PartitionOffset, RawRecord, SinkError

__all__ = [
    "ConfluentConsumer",
    "ConfluentProducer",
    "consumer_settings",
    "create_topics",
    "producer_settings",
    "read_to_end",
    "topic_partitions",
]

log = logging.getLogger(__name__)

DELIVERY_TIMEOUT_MS = 120_000


def producer_settings(bootstrap: str, **overrides: Any) -> dict[str, Any]:
    """librdkafka producer settings that do not lose data: idempotence implies acks=all."""
    settings: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "max.in.flight.requests.per.connection": 5,
        "linger.ms": 5,
        "compression.type": "gzip",  # what kafka-python can read without extra codecs
        "partitioner": "murmur2_random",  # the Java client's: keys land where theirs do
        "request.timeout.ms": 30_000,
        "delivery.timeout.ms": DELIVERY_TIMEOUT_MS,
        "queue.buffering.max.messages": 1_000_000,
    }
    settings.update(overrides)
    return settings


def consumer_settings(bootstrap: str, group_id: str) -> dict[str, Any]:
    """A group consumer that commits by hand and starts at the earliest offset."""
    return {
        "bootstrap.servers": bootstrap,
        "group.id": group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "max.partition.fetch.bytes": 8 * 1024 * 1024,
        "session.timeout.ms": 10_000,
        "heartbeat.interval.ms": 1_000,
        "max.poll.interval.ms": 300_000,
    }


#: ``PartitionOffset(t, p, o)`` without the named tuple's Python-level ``__new__`` (measured
#: 0.24 against 0.14 µs; a poll builds one per message).
_new_position: Callable[[type[PartitionOffset], tuple[str, int, int]], PartitionOffset] = (
    tuple.__new__
)


def _codes(names: Sequence[str]) -> frozenset[int]:
    error = import_client("confluent").KafkaError
    return frozenset(getattr(error, name) for name in names if hasattr(error, name))


# A commit refused because the group moved on: the new owner reprocesses (at-least-once).
_FENCED = (
    "REBALANCE_IN_PROGRESS",
    "ILLEGAL_GENERATION",
    "UNKNOWN_MEMBER_ID",
    "FENCED_INSTANCE_ID",
    "_ASSIGNMENT_LOST",
)
# The group coordinator is away or moving. librdkafka rejoins the group only while the
# application polls, so a commit that keeps waiting for it is deferred after a while: the
# next checkpoint commits these offsets too (kafka-python's CommitFailedError case).
_COORDINATOR_AWAY = (
    "_WAIT_COORD",
    "NOT_COORDINATOR",
    "COORDINATOR_NOT_AVAILABLE",
    "COORDINATOR_LOAD_IN_PROGRESS",
)
COORDINATOR_WAIT_S = 20.0
# Worth retrying while a broker restarts or the coordinator moves.
_TRANSIENT = (
    "_TRANSPORT",
    "_TIMED_OUT",
    "_WAIT_COORD",
    "_ALL_BROKERS_DOWN",
    "COORDINATOR_NOT_AVAILABLE",
    "NOT_COORDINATOR",
    "COORDINATOR_LOAD_IN_PROGRESS",
    "REQUEST_TIMED_OUT",
    "NETWORK_EXCEPTION",
)


class ConfluentConsumer:
    """:class:`~linewatch.connectors.kafka.clients.ConsumerClient` on confluent-kafka."""

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
        confluent = import_client("confluent")
        settings = consumer_settings(bootstrap, group_id)
        settings.update(consumer_config or {})
        self._confluent = confluent
        self._on_revoke = on_revoke
        self._on_assign = on_assign
        self._assigned: set[TopicPartitionKey] = set()
        self._revoked_in_poll = False
        self._fenced = _codes(_FENCED)
        self._transient = _codes(_TRANSIENT)
        self._coordinator_away = _codes(_COORDINATOR_AWAY)
        self._consumer = confluent.Consumer(settings, logger=log)
        self._consumer.subscribe(list(topics), on_assign=self._assign_cb, on_revoke=self._revoke_cb)

    def _assign_cb(self, consumer: Any, partitions: list[Any]) -> None:
        keys = sorted((tp.topic, tp.partition) for tp in partitions)
        self._assigned.update(keys)
        self._on_assign(keys)  # the binding assigns them after this returns

    def _revoke_cb(self, consumer: Any, partitions: list[Any]) -> None:
        keys = sorted((tp.topic, tp.partition) for tp in partitions)
        self._assigned.difference_update(keys)
        self._revoked_in_poll = True
        if keys:
            self._on_revoke(keys)

    def poll(
        self, timeout: float, max_records: int
    ) -> tuple[list[RawRecord], dict[TopicPartitionKey, int]]:
        self._revoked_in_poll = False
        # What librdkafka already holds came while the last batch was processed: it has
        # waited, so it goes now. ``consume`` with a timeout would hold it until the batch
        # is full or the timeout ends (at 10,000/s p50 115 -> 69 ms with 50 ms slices).
        messages = self._consumer.consume(num_messages=max_records, timeout=0)
        if not messages and timeout > 0:
            messages = self._consumer.consume(num_messages=max_records, timeout=timeout)
        batch: list[RawRecord] = []
        append = batch.append
        next_offsets: dict[TopicPartitionKey, int] = {}
        revoked = self._revoked_in_poll
        position = _new_position
        # One pass per message, so it is kept lean: no generator for absent headers,
        # positional fields (this loop was 6 µs a message of the pipeline's ~25).
        for message in messages:
            error = message.error()
            if error is not None:
                self._consume_error(error)
                continue
            topic, partition, offset = message.topic(), message.partition(), message.offset()
            if revoked and (topic, partition) not in self._assigned:
                continue  # fetched before a revoke in this call: the new owner reads it
            value = message.value()
            headers = message.headers()
            append(
                RawRecord(
                    value if value is not None else b"",
                    f"{topic}/{partition}@{offset}",
                    message.key(),
                    tuple([(k, v or b"") for k, v in headers]) if headers else (),
                    position(PartitionOffset, (topic, partition, offset)),
                )
            )
            next_offsets[(topic, partition)] = offset + 1
        return batch, next_offsets

    def _consume_error(self, error: Any) -> None:
        if error.fatal():
            raise self._confluent.KafkaException(error)
        if error.code() != self._confluent.KafkaError._PARTITION_EOF:
            log.warning("consumer: %s", error)

    def commit(self, offsets: Mapping[TopicPartitionKey, int], retry_for_s: float) -> None:
        confluent = self._confluent
        wanted = [confluent.TopicPartition(t, p, o) for (t, p), o in offsets.items()]
        started = time.monotonic()
        deadline = started + retry_for_s
        delay = 0.1
        while True:
            try:
                results = self._consumer.commit(offsets=wanted, asynchronous=False) or []
                failed = [tp.error for tp in results if tp.error is not None]
                if not failed:
                    return
                error = failed[0]
            except confluent.KafkaException as exc:
                error = exc.args[0]
            if error.code() in self._fenced:
                log.warning(
                    "commit refused after a rebalance; the new owner reprocesses: %s", error
                )
                return
            if (
                error.code() in self._coordinator_away
                and time.monotonic() - started > COORDINATOR_WAIT_S
            ):
                log.warning("commit deferred to the next checkpoint: %s", error)
                return
            transient = error.retriable() or error.code() in self._transient
            if not transient or time.monotonic() > deadline:
                raise confluent.KafkaException(error)
            log.warning("commit failed (%s); retrying in %.1f s", error, delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    def assignment(self) -> list[TopicPartitionKey]:
        return sorted((tp.topic, tp.partition) for tp in self._consumer.assignment())

    def lag(self, positions: Mapping[TopicPartitionKey, int]) -> dict[TopicPartitionKey, int]:
        assigned = self._consumer.assignment()
        own = {(tp.topic, tp.partition): tp.offset for tp in self._consumer.position(assigned)}
        behind: dict[TopicPartitionKey, int] = {}
        for tp in assigned:
            key = (tp.topic, tp.partition)
            # cached: the high watermark of the last fetch response, no broker round trip
            _low, high = self._consumer.get_watermark_offsets(tp, cached=True)
            position = positions.get(key, own.get(key, -1))
            if high >= 0 and position >= 0:
                behind[key] = max(high - position, 0)
        return behind

    def close(self) -> None:
        self._consumer.close()  # runs the last revoke callback: the sinks flush there


class ConfluentProducer:
    """:class:`~linewatch.connectors.kafka.clients.ProducerClient` on confluent-kafka.

    Only failed deliveries call back (``delivery.report.only.error``), so a send costs
    no Python callback; every message gets its report within ``delivery.timeout.ms``.
    """

    def __init__(self, bootstrap: str, producer_config: Mapping[str, Any] | None = None) -> None:
        confluent = import_client("confluent")
        settings = producer_settings(bootstrap, **(producer_config or {}))
        settings.update(
            {
                "delivery.report.only.error": True,
                "on_delivery": self._delivered,
                "error_cb": self._error,
            }
        )
        self._timeout_s = int(settings.get("delivery.timeout.ms", DELIVERY_TIMEOUT_MS)) / 1000
        self._failures: list[Any] = []
        self._producer = confluent.Producer(settings, logger=log)

    def _delivered(self, error: Any, message: Any) -> None:
        if error is not None:
            self._failures.append(error)

    def _error(self, error: Any) -> None:
        if error.fatal():  # an idempotent producer that cannot keep its guarantee
            self._failures.append(error)
        else:
            log.warning("producer: %s", error)

    def send(
        self,
        topic: str,
        value: bytes,
        key: bytes | None,
        headers: list[tuple[str, bytes]] | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
    ) -> None:
        extra: dict[str, Any] = {}
        if headers:
            extra["headers"] = headers
        if partition is not None:
            extra["partition"] = partition
        if timestamp_ms is not None:
            extra["timestamp"] = timestamp_ms
        produce = self._producer.produce
        while True:
            try:
                if extra:
                    produce(topic, value, key, **extra)
                else:
                    produce(topic, value, key)
                return
            except BufferError:  # the local queue is full: let deliveries drain it
                self._producer.poll(0.1)

    def flush(self) -> None:
        deadline = time.monotonic() + self._timeout_s + 10.0
        remaining = self._producer.flush(1.0)
        while remaining:
            if time.monotonic() > deadline:
                raise SinkError(f"{remaining} message(s) not acknowledged in {self._timeout_s} s")
            remaining = self._producer.flush(1.0)
        failures, self._failures = self._failures, []
        if failures:
            raise SinkError(f"{len(failures)} message(s) not acknowledged: {failures[0]}")

    def close(self) -> None:
        self.flush()


def read_to_end(
    bootstrap: str, topic: str, partitions: Sequence[int], timeout_s: float
) -> Iterator[tuple[int, bytes, bytes | None]]:
    """Every ``(partition, key, value)`` of these partitions, from the start to the end."""
    confluent = import_client("confluent")
    consumer = confluent.Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"linewatch-restore-{uuid.uuid4().hex}",  # never joined, never committed
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        },
        logger=log,
    )
    try:
        ends: dict[int, int] = {}
        for partition in partitions:
            tp = confluent.TopicPartition(topic, partition)
            low, high = consumer.get_watermark_offsets(tp, timeout=timeout_s, cached=False)
            if high > low:
                ends[partition] = high
        consumer.assign(
            [confluent.TopicPartition(topic, p, confluent.OFFSET_BEGINNING) for p in ends]
        )
        pending = set(ends)
        deadline = time.monotonic() + timeout_s
        while pending:
            if time.monotonic() > deadline:
                raise SinkError(f"changelog {topic}: restore did not finish in {timeout_s:g} s")
            for message in consumer.consume(num_messages=10_000, timeout=0.5):
                error = message.error()
                if error is not None:
                    if error.code() == confluent.KafkaError._PARTITION_EOF:
                        pending.discard(message.partition())
                    elif error.fatal():
                        raise confluent.KafkaException(error)
                    continue
                partition = message.partition()
                yield partition, message.key() or b"", message.value()
                if message.offset() + 1 >= ends[partition]:
                    pending.discard(partition)
    finally:
        consumer.close()


def _admin_module() -> Any:
    import_client("confluent")  # the install hint, if it is missing
    return __import__("confluent_kafka.admin", fromlist=["AdminClient"])


def _admin(bootstrap: str) -> Any:
    return _admin_module().AdminClient({"bootstrap.servers": bootstrap}, logger=log)


def _topic_sizes(admin: Any, timeout_s: float) -> dict[str, int]:
    """Partitions per topic known to the cluster (topics with an error count as absent)."""
    metadata = admin.list_topics(timeout=timeout_s)
    return {
        name: len(topic.partitions)
        for name, topic in metadata.topics.items()
        if topic.error is None and topic.partitions
    }


def create_topics(
    bootstrap: str, topics: Mapping[str, int], config: Mapping[str, str], replication: int
) -> None:
    """Create the topics that do not exist yet (another worker may be first)."""
    confluent = import_client("confluent")
    new_topic = _admin_module().NewTopic
    admin = _admin(bootstrap)
    existing = _topic_sizes(admin, 30.0)
    new = [
        new_topic(
            name, num_partitions=partitions, replication_factor=replication, config=dict(config)
        )
        for name, partitions in topics.items()
        if name not in existing
    ]
    if not new:
        return
    for future in admin.create_topics(new, operation_timeout=30, request_timeout=30).values():
        try:
            future.result()
        except confluent.KafkaException as exc:
            if exc.args[0].code() != confluent.KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    topic_partitions(bootstrap, [topic.topic for topic in new], 30.0)  # metadata has them


def topic_partitions(bootstrap: str, topics: Sequence[str], timeout_s: float) -> dict[str, int]:
    """How many partitions each topic has, waiting for metadata up to ``timeout_s``."""
    confluent = import_client("confluent")
    admin = _admin(bootstrap)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            sizes = _topic_sizes(admin, max(1.0, deadline - time.monotonic()))
        except confluent.KafkaException as exc:
            log.warning("metadata from %s: %s", bootstrap, exc)
            sizes = {}
        missing = [topic for topic in topics if topic not in sizes]
        if not missing:
            return {topic: sizes[topic] for topic in topics}
        if time.monotonic() > deadline:
            raise SinkError(f"topic {missing[0]!r} not found on {bootstrap}")
        time.sleep(0.2)
