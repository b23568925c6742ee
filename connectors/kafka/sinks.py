"""Alerts, chart points and dead letters to Kafka topics, on idempotent producers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from linewatch.connectors.kafka.clients import (
    ProducerClient,
    Transport,
    check_transport,
    epoch_ms,
)
from linewatch.connectors.kafka.urls import parse_kafka_url, split_transport
from linewatch.pipeline.models import Alert, ChartPoint, DeadLetter, Output, WireRecord

__all__ = ["KafkaAlertSink", "KafkaDeadLetterSink", "make_producer", "produce_records"]


def make_producer(
    bootstrap: str,
    producer_config: Mapping[str, Any] | None = None,
    transport: Transport = "confluent",
) -> ProducerClient:
    """An idempotent, acks=all producer on the given transport."""
    if check_transport(transport) == "confluent":
        from linewatch.connectors.kafka.confluent import ConfluentProducer

        return ConfluentProducer(bootstrap, producer_config)
    from linewatch.connectors.kafka.kafka_python import KafkaPythonProducer

    return KafkaPythonProducer(bootstrap, producer_config)


def produce_records(
    records: Iterable[WireRecord], url: str, transport: Transport = "confluent"
) -> int:
    """Produce wire records to ``kafka://HOST:PORT/TOPIC`` keyed by ``line/station``.

    ``?transport=kafka-python`` at the end of the URL overrides ``transport``. Each
    message is stamped with the record's event time (``ts``), so ``replay --from
    kafka://`` finds a window of event times by the Kafka timestamp.
    """
    base, named = split_transport(url)
    bootstrap, topic = parse_kafka_url(base)
    producer = make_producer(bootstrap, transport=check_transport(named or transport))
    encode = msgspec.json.Encoder().encode
    count = 0
    try:
        for record in records:
            producer.send(
                topic,
                encode(record),
                record.stream_key.encode(),
                timestamp_ms=epoch_ms(record.ts),
            )
            count += 1
            if count % 50_000 == 0:
                producer.flush()  # bounds what is kept in memory
    finally:
        producer.close()
    return count


class _ProducerSink:
    """Shared sink plumbing: send per item, wait for every ack at flush."""

    def __init__(
        self,
        bootstrap: str,
        producer_config: Mapping[str, Any] | None,
        transport: Transport,
    ) -> None:
        self.bootstrap = bootstrap
        self.producer_config = producer_config
        self.transport = check_transport(transport)
        self._producer = make_producer(bootstrap, producer_config, self.transport)
        self._encoder = msgspec.json.Encoder()

    def flush(self) -> None:
        """Wait until the broker acknowledged everything sent; raise if any send failed."""
        self._producer.flush()

    def close(self) -> None:
        self._producer.close()


class KafkaAlertSink(_ProducerSink):
    """Alerts to a topic keyed by fingerprint; chart points to another, optionally."""

    def __init__(
        self,
        bootstrap: str,
        alerts_topic: str,
        points_topic: str | None = None,
        producer_config: Mapping[str, Any] | None = None,
        transport: Transport = "confluent",
    ) -> None:
        super().__init__(bootstrap, producer_config, transport)
        self.alerts_topic = alerts_topic
        self.points_topic = points_topic

    def add(self, item: Output | WireRecord) -> None:
        if isinstance(item, Alert):
            self._producer.send(
                self.alerts_topic, self._encoder.encode(item), item.fingerprint.encode()
            )
        elif isinstance(item, ChartPoint) and self.points_topic is not None:
            key = f"{item.line}/{item.station}".encode()
            self._producer.send(self.points_topic, self._encoder.encode(item), key)


class KafkaDeadLetterSink(_ProducerSink):
    """Dead letters keep the original key, bytes and headers; context goes into headers.

    Headers added (Kafka Connect's convention, under a ``linewatch.`` prefix):
    ``linewatch.dlq.reason``, ``linewatch.dlq.origin``, and for Kafka input
    ``linewatch.dlq.topic``, ``linewatch.dlq.partition``, ``linewatch.dlq.offset``.
    """

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        producer_config: Mapping[str, Any] | None = None,
        transport: Transport = "confluent",
    ) -> None:
        super().__init__(bootstrap, producer_config, transport)
        self.topic = topic

    def add(self, item: Output | WireRecord) -> None:
        if not isinstance(item, DeadLetter):
            return
        headers = [(k, v.encode()) for k, v in item.headers.items()]
        headers.append(("linewatch.dlq.reason", item.reason.encode()))
        headers.append(("linewatch.dlq.origin", item.origin.encode()))
        for name, value in item.source.items():
            headers.append((f"linewatch.dlq.{name}", str(value).encode()))
        key = item.key.encode() if item.key is not None else None
        self._producer.send(self.topic, item.original_bytes(), key, headers)
