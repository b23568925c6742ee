"""The internal repartition topic: records re-keyed by line, and watermark control records.

A data message keeps the original record's bytes as its value, is keyed by the new key
(the line), and says where it came from in headers: ``linewatch.rp.kind`` ``data``,
``linewatch.rp.topic``, ``linewatch.rp.partition``, ``linewatch.rp.offset`` and
``linewatch.rp.ts_us`` (its event time, microseconds since the epoch). A control message
(``linewatch.rp.kind`` ``watermark``, no key, empty value) is sent to every partition of the
topic: origin topic and partition, and in ``linewatch.rp.ts_us`` the event time its sender
promises the origin partition will not go below. :meth:`RepartitionProducer.flush` sends
the pending controls after the data queued before them, then waits for every ack; the
producer is idempotent, so each partition keeps one sender's order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from linewatch.connectors.kafka.clients import ProducerClient, Transport, check_transport
from linewatch.connectors.kafka.sinks import make_producer
from linewatch.pipeline.models import PartitionOffset, RawRecord

__all__ = ["Forwarded", "RepartitionProducer", "Watermark", "parse_repartitioned"]

KIND = "linewatch.rp.kind"
TOPIC = "linewatch.rp.topic"
PARTITION = "linewatch.rp.partition"
OFFSET = "linewatch.rp.offset"
TS_US = "linewatch.rp.ts_us"


@dataclass(frozen=True, slots=True)
class Forwarded:
    """A data message of the repartition topic."""

    origin: PartitionOffset
    ts_us: int
    payload: bytes
    key: str


@dataclass(frozen=True, slots=True)
class Watermark:
    """A control message: ``origin`` will not go below ``ts_us``."""

    topic: str
    partition: int
    ts_us: int


class RepartitionProducer:
    """Sends forwarded records and watermarks to the repartition topic."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        partitions: int,
        producer_config: Mapping[str, Any] | None = None,
        transport: Transport = "confluent",
        client: ProducerClient | None = None,
    ) -> None:
        if partitions < 1:
            raise ValueError(f"the repartition topic needs a partition, got {partitions}")
        self.topic = topic
        self.partitions = partitions
        self._producer = client or make_producer(
            bootstrap, producer_config, check_transport(transport)
        )
        self._pending: dict[tuple[str, int], int] = {}  # origin -> watermark to send

    def forward(self, key: str, payload: bytes, origin: PartitionOffset, ts_us: int) -> None:
        headers = [
            (KIND, b"data"),
            (TOPIC, origin.topic.encode()),
            (PARTITION, str(origin.partition).encode()),
            (OFFSET, str(origin.offset).encode()),
            (TS_US, str(ts_us).encode()),
        ]
        self._producer.send(self.topic, payload, key.encode(), headers)

    def advance(self, topic: str, partition: int, ts_us: int) -> None:
        """Queue a watermark for the next :meth:`flush` (the last one per origin wins)."""
        self._pending[(topic, partition)] = ts_us

    def flush(self) -> None:
        """Send the pending watermarks to every partition, then wait for every ack."""
        for (topic, origin_partition), ts_us in sorted(self._pending.items()):
            headers = [
                (KIND, b"watermark"),
                (TOPIC, topic.encode()),
                (PARTITION, str(origin_partition).encode()),
                (TS_US, str(ts_us).encode()),
            ]
            for partition in range(self.partitions):
                self._producer.send(self.topic, b"", None, headers, partition=partition)
        self._pending.clear()
        self._producer.flush()

    def close(self) -> None:
        self._producer.close()


def parse_repartitioned(raw: RawRecord) -> Forwarded | Watermark | None:
    """What a message of the repartition topic is (None: not one of ours)."""
    headers = dict(raw.headers)
    try:
        kind = headers[KIND]
        topic = headers[TOPIC].decode()
        partition = int(headers[PARTITION])
        ts_us = int(headers[TS_US])
        if kind == b"watermark":
            return Watermark(topic, partition, ts_us)
        if kind != b"data" or not isinstance(raw.payload, bytes):
            return None
        offset = int(headers[OFFSET])
    except (KeyError, ValueError, UnicodeDecodeError):
        return None
    key = raw.key.decode(errors="replace") if raw.key is not None else ""
    return Forwarded(PartitionOffset(topic, partition, offset), ts_us, raw.payload, key)
