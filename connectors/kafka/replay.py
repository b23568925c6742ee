"""Replay a time window of Kafka topics without joining any consumer group.

The window is by the Kafka record timestamp (CreateTime unless the topic says
LogAppendTime); ``linewatch simulate --to kafka://`` and :func:`produce_records` set it
to the record's event time, so a window by time is a window of event times. Each
partition is assigned by hand (no subscription, no group membership), starts at
``offsets_for_times(start)`` and stops at its first record stamped at or after ``stop``,
or at its high watermark as it was when the replay began: a replay is bounded and never
waits for new data. Nothing is ever committed, so the live group's offsets stay as they
are. Records stamped before ``start`` that sit inside the window (out-of-order producer
timestamps) are skipped.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from linewatch.connectors.kafka.clients import (
    TopicPartitionKey,
    Transport,
    check_transport,
    epoch_ms,
)
from linewatch.connectors.kafka.clients import import_client as _import
from linewatch.pipeline.models import PartitionOffset, RawRecord

__all__ = ["KafkaReplayError", "KafkaReplaySource"]

_FETCH_TIMEOUT_S = 30.0


class KafkaReplayError(Exception):
    """A replay that cannot start: unknown topic, broker unreachable."""


class _Message:
    __slots__ = ("headers", "key", "offset", "partition", "timestamp_ms", "topic", "value")

    def __init__(
        self,
        topic: str,
        partition: int,
        offset: int,
        timestamp_ms: int,
        key: bytes | None,
        value: bytes | None,
        headers: tuple[tuple[str, bytes], ...],
    ) -> None:
        self.topic, self.partition, self.offset = topic, partition, offset
        self.timestamp_ms, self.key, self.value, self.headers = timestamp_ms, key, value, headers


class _ConfluentReader:
    """Assigned (never subscribed) confluent-kafka consumer; its throwaway group never commits."""

    def __init__(self, bootstrap: str, config: Mapping[str, Any]) -> None:
        confluent = _import("confluent")
        self._confluent = confluent
        settings: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            # librdkafka wants a group.id even for assign(); this one joins nothing.
            "group.id": f"linewatch-replay-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "max.partition.fetch.bytes": 8 * 1024 * 1024,
        }
        settings.update(config)
        self._consumer = confluent.Consumer(settings)

    def partitions(self, topic: str) -> list[int]:
        metadata = self._consumer.list_topics(topic, timeout=_FETCH_TIMEOUT_S)
        found = metadata.topics.get(topic)
        if found is None or found.error is not None or not found.partitions:
            raise KafkaReplayError(f"Kafka topic {topic!r} does not exist")
        return sorted(found.partitions)

    def offsets_for(self, wanted: Mapping[TopicPartitionKey, int]) -> dict[TopicPartitionKey, int]:
        tps = [self._confluent.TopicPartition(t, p, ms) for (t, p), ms in wanted.items()]
        found = self._consumer.offsets_for_times(tps, timeout=_FETCH_TIMEOUT_S)
        return {(tp.topic, tp.partition): tp.offset for tp in found}  # -1: none that late

    def high_watermark(self, topic: str, partition: int) -> int:
        tp = self._confluent.TopicPartition(topic, partition)
        _low, high = self._consumer.get_watermark_offsets(tp, timeout=_FETCH_TIMEOUT_S)
        return int(high)

    def assign(self, starts: Mapping[TopicPartitionKey, int]) -> None:
        make = self._confluent.TopicPartition
        self._consumer.assign([make(t, p, o) for (t, p), o in starts.items()])

    def pause(self, key: TopicPartitionKey) -> None:
        self._consumer.pause([self._confluent.TopicPartition(*key)])

    def position(self, key: TopicPartitionKey) -> int:
        (tp,) = self._consumer.position([self._confluent.TopicPartition(*key)])
        return int(tp.offset)

    def poll(self, timeout: float, max_records: int) -> list[_Message]:
        messages = self._consumer.consume(num_messages=max_records, timeout=timeout)
        out: list[_Message] = []
        for message in messages:
            error = message.error()
            if error is not None:
                if error.fatal():
                    raise self._confluent.KafkaException(error)
                continue  # partition EOF and transient errors: the client retries
            headers = tuple((k, v or b"") for k, v in message.headers() or ())
            _kind, stamp = message.timestamp()
            out.append(
                _Message(
                    message.topic(),
                    message.partition(),
                    message.offset(),
                    stamp,
                    message.key(),
                    message.value(),
                    headers,
                )
            )
        return out

    def close(self) -> None:
        self._consumer.close()  # no group joined, nothing to commit


class _KafkaPythonReader:
    """Assigned kafka-python consumer with no group at all (``group_id=None``)."""

    def __init__(self, bootstrap: str, config: Mapping[str, Any]) -> None:
        kafka = _import("kafka-python")
        self._kafka = kafka
        settings: dict[str, Any] = {
            "bootstrap_servers": bootstrap,
            "group_id": None,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "max_partition_fetch_bytes": 8 * 1024 * 1024,
        }
        settings.update(config)
        self._consumer = kafka.KafkaConsumer(**settings)

    def partitions(self, topic: str) -> list[int]:
        deadline = time.monotonic() + _FETCH_TIMEOUT_S
        while True:
            found = self._consumer.partitions_for_topic(topic)
            if found:
                return sorted(found)
            if time.monotonic() > deadline:
                raise KafkaReplayError(f"Kafka topic {topic!r} does not exist")
            time.sleep(0.2)

    def offsets_for(self, wanted: Mapping[TopicPartitionKey, int]) -> dict[TopicPartitionKey, int]:
        tps = {self._kafka.TopicPartition(t, p): ms for (t, p), ms in wanted.items()}
        found = self._consumer.offsets_for_times(tps)
        return {
            (tp.topic, tp.partition): (-1 if hit is None else int(hit.offset))
            for tp, hit in found.items()
        }

    def high_watermark(self, topic: str, partition: int) -> int:
        tp = self._kafka.TopicPartition(topic, partition)
        return int(self._consumer.end_offsets([tp])[tp])

    def assign(self, starts: Mapping[TopicPartitionKey, int]) -> None:
        tps = {self._kafka.TopicPartition(t, p): o for (t, p), o in starts.items()}
        self._consumer.assign(list(tps))
        for tp, offset in tps.items():
            self._consumer.seek(tp, offset)

    def pause(self, key: TopicPartitionKey) -> None:
        self._consumer.pause(self._kafka.TopicPartition(*key))

    def position(self, key: TopicPartitionKey) -> int:
        return int(self._consumer.position(self._kafka.TopicPartition(*key)))

    def poll(self, timeout: float, max_records: int) -> list[_Message]:
        fetched = self._consumer.poll(timeout_ms=int(timeout * 1000), max_records=max_records)
        out: list[_Message] = []
        for tp, messages in fetched.items():
            for m in messages:
                headers = tuple((k, v or b"") for k, v in (m.headers or ()))
                out.append(
                    _Message(tp.topic, tp.partition, m.offset, m.timestamp, m.key, m.value, headers)
                )
        return out

    def close(self) -> None:
        self._consumer.close(autocommit=False)


class KafkaReplaySource:
    """The records of ``topics`` stamped in ``[start, stop)``, read outside any group.

    A :class:`~linewatch.pipeline.models.Source`: :meth:`commit` does nothing (a replay
    must not move anyone's offsets); :meth:`snapshot` gives the next offset per partition
    and ``resume=`` continues from there. Exhausted once every partition reached its stop.
    """

    def __init__(
        self,
        bootstrap: str,
        topics: Sequence[str],
        start: datetime,
        stop: datetime,
        *,
        batch_size: int = 5000,
        transport: Transport = "confluent",
        consumer_config: Mapping[str, Any] | None = None,
        resume: Mapping[str, Any] | None = None,
    ) -> None:
        if start.tzinfo is None or stop.tzinfo is None:
            raise ValueError("Kafka replay: --start and --stop need a timezone")
        if stop <= start:
            raise ValueError("Kafka replay: --stop must be after --start")
        self.bootstrap = bootstrap
        self.topics = list(topics)
        self.start, self.stop = start, stop
        self.batch_size = batch_size
        self.transport = check_transport(transport)
        self._start_ms, self._stop_ms = epoch_ms(start), epoch_ms(stop)
        reader_type = _ConfluentReader if self.transport == "confluent" else _KafkaPythonReader
        try:
            self._reader: _ConfluentReader | _KafkaPythonReader = reader_type(
                bootstrap, consumer_config or {}
            )
        except Exception as exc:  # the client's own errors: unreachable, bad settings
            raise KafkaReplayError(f"cannot connect to {bootstrap}: {exc}") from exc
        try:
            self._open(dict((resume or {}).get("offsets", {})))
        except KafkaReplayError:
            self._reader.close()
            raise
        except Exception as exc:
            self._reader.close()
            raise KafkaReplayError(f"cannot read {', '.join(self.topics)}: {exc}") from exc

    def _open(self, resumed: Mapping[str, int]) -> None:
        keys = [(topic, p) for topic in self.topics for p in self._reader.partitions(topic)]
        firsts = self._reader.offsets_for(dict.fromkeys(keys, self._start_ms))
        # Bounded: stop at the end as it is now, whatever is produced meanwhile.
        self._end = {key: self._reader.high_watermark(*key) for key in keys}
        self._next: dict[TopicPartitionKey, int] = {}
        for key in keys:
            first = firsts.get(key, -1)
            begin = self._end[key] if first < 0 else first
            begin = max(begin, int(resumed.get(f"{key[0]}/{key[1]}", begin)))
            self._next[key] = begin
        self._open_partitions = {key for key in keys if self._next[key] < self._end[key]}
        if self._open_partitions:
            self._reader.assign({key: self._next[key] for key in sorted(self._open_partitions)})

    def _close_partition(self, key: TopicPartitionKey) -> None:
        self._open_partitions.discard(key)
        self._reader.pause(key)

    def poll(self, timeout: float) -> list[RawRecord]:
        if not self._open_partitions:
            return []
        batch: list[RawRecord] = []
        messages = self._reader.poll(timeout, self.batch_size)
        for message in messages:
            key = (message.topic, message.partition)
            if key not in self._open_partitions:
                continue  # fetched before the partition reached its stop
            if message.offset >= self._end[key] or message.timestamp_ms >= self._stop_ms:
                self._close_partition(key)
                continue
            self._next[key] = message.offset + 1
            if message.offset + 1 >= self._end[key]:
                self._close_partition(key)
            if message.timestamp_ms < self._start_ms:
                continue  # stamped out of order, before the window
            batch.append(
                RawRecord(
                    payload=message.value if message.value is not None else b"",
                    origin=f"{message.topic}/{message.partition}@{message.offset}",
                    key=message.key,
                    headers=message.headers,
                    position=PartitionOffset(message.topic, message.partition, message.offset),
                )
            )
        if not messages:
            # Compaction or transaction markers can leave the last offsets without a record.
            for key in sorted(self._open_partitions):
                if self._reader.position(key) >= self._end[key]:
                    self._close_partition(key)
        return batch

    def commit(self) -> None:
        """Nothing: a replay never commits offsets."""

    @property
    def exhausted(self) -> bool:
        return not self._open_partitions

    def snapshot(self) -> dict[str, Any]:
        return {"offsets": {f"{t}/{p}": o for (t, p), o in sorted(self._next.items())}}

    def close(self) -> None:
        self._reader.close()
