"""Kafka source, sinks, dead-letter topic and changelog state store, on two transports.

``confluent`` (confluent-kafka, the default) or ``kafka-python`` (pure Python), with the
same semantics: manual commits only after every sink flushed, rebalance hooks that
checkpoint before a revoke and restore after an assign, idempotent ``acks=all``
producers, and detector state in a compacted changelog topic.

Modules: :mod:`.clients` (the transport interface), :mod:`.confluent` and
:mod:`.kafka_python` (the two clients), :mod:`.source`, :mod:`.sinks`, :mod:`.state`,
:mod:`.admin` and :mod:`.urls`.
"""

from __future__ import annotations

from linewatch.connectors.kafka.admin import ensure_topics, partition_counts
from linewatch.connectors.kafka.clients import TRANSPORTS, Transport
from linewatch.connectors.kafka.kafka_python import producer_settings
from linewatch.connectors.kafka.sinks import KafkaAlertSink, KafkaDeadLetterSink, produce_records
from linewatch.connectors.kafka.source import KafkaSource
from linewatch.connectors.kafka.state import KafkaStateStore
from linewatch.connectors.kafka.urls import parse_kafka_url

__all__ = [
    "TRANSPORTS",
    "KafkaAlertSink",
    "KafkaDeadLetterSink",
    "KafkaSource",
    "KafkaStateStore",
    "Transport",
    "ensure_topics",
    "parse_kafka_url",
    "partition_counts",
    "produce_records",
    "producer_settings",
]
