"""Kept for old imports: the broker now ships as :mod:`linewatch.connectors.testing.kafka`."""

from __future__ import annotations

from linewatch.connectors.testing.kafka import (
    KafkaBroker,
    KafkaBrokerError,
    default_kafka_version,
    fetch_kafka,
    free_port,
    probe_metadata,
)

__all__ = [
    "KafkaBroker",
    "KafkaBrokerError",
    "default_kafka_version",
    "fetch_kafka",
    "free_port",
    "probe_metadata",
]
