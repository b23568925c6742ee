"""Detector state per stream key in a compacted topic, like a Kafka Streams changelog."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from linewatch.connectors.kafka.admin import ensure_topics
from linewatch.connectors.kafka.clients import Transport, check_transport
from linewatch.connectors.kafka.sinks import make_producer

__all__ = ["KafkaStateStore"]


class KafkaStateStore:
    """Detector state per stream key in a compacted topic, like a Kafka Streams changelog.

    The changelog has as many partitions as the input topics, and the state of a key is
    written to the partition its records come from, so a worker that is assigned input
    partition ``p`` restores by reading changelog partition ``p`` to its end.
    """

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        producer_config: Mapping[str, Any] | None = None,
        transport: Transport = "confluent",
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.producer_config = producer_config
        self.transport = check_transport(transport)
        self._producer = make_producer(bootstrap, producer_config, self.transport)

    def ensure_topic(self, partitions: int) -> None:
        """Create the compacted changelog topic if it does not exist."""
        ensure_topics(
            self.bootstrap,
            {self.topic: partitions},
            config={"cleanup.policy": "compact", "min.compaction.lag.ms": "0"},
            transport=self.transport,
        )

    def save(self, entries: Iterable[tuple[int, str, bytes | None]]) -> None:
        """Write ``(partition, key, state)`` entries and wait for the acks; None deletes."""
        for partition, key, state in entries:
            value = state if state is not None else b""
            self._producer.send(self.topic, value, key.encode(), partition=partition)
        self._producer.flush()

    def load(
        self, partitions: Iterable[int], timeout_s: float = 30.0
    ) -> list[tuple[int, str, bytes]]:
        """The latest ``(partition, key, state)`` of every key in these changelog partitions."""
        wanted = sorted(set(partitions))
        if not wanted:
            return []
        if self.transport == "confluent":
            from linewatch.connectors.kafka.confluent import read_to_end
        else:
            from linewatch.connectors.kafka.kafka_python import read_to_end
        states: dict[str, tuple[int, bytes]] = {}
        for partition, key, value in read_to_end(self.bootstrap, self.topic, wanted, timeout_s):
            if value:
                states[key.decode()] = (partition, value)
            else:
                states.pop(key.decode(), None)
        return [(partition, key, value) for key, (partition, value) in sorted(states.items())]

    def close(self) -> None:
        self._producer.close()
