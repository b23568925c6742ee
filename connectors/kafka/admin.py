"""Topic administration on either transport: create topics, count partitions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from linewatch.connectors.kafka import confluent, kafka_python
from linewatch.connectors.kafka.clients import Transport, check_transport

__all__ = ["ensure_topics", "partition_counts"]


def ensure_topics(
    bootstrap: str,
    topics: Mapping[str, int],
    config: Mapping[str, str] | None = None,
    replication: int = 1,
    *,
    transport: Transport = "confluent",
) -> None:
    """Create topics that do not exist yet, with the given partition counts."""
    module = confluent if check_transport(transport) == "confluent" else kafka_python
    module.create_topics(bootstrap, topics, dict(config or {}), replication)


def partition_counts(
    bootstrap: str,
    topics: Sequence[str],
    timeout_s: float = 30.0,
    *,
    transport: Transport = "confluent",
) -> dict[str, int]:
    """How many partitions each topic has (waits for metadata up to ``timeout_s``)."""
    if check_transport(transport) == "confluent":
        return confluent.topic_partitions(bootstrap, topics, timeout_s)
    return kafka_python.topic_partitions(bootstrap, topics, timeout_s)
