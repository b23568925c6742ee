"""The two Kafka client libraries behind one small interface.

``confluent`` (confluent-kafka, librdkafka in C) is the default; ``kafka-python`` is the
pure-Python client for installs without a C extension. Each transport module implements
:class:`ConsumerClient` and :class:`ProducerClient`; the source, sinks, changelog and
admin functions are written once against them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from linewatch.pipeline.models import RawRecord

__all__ = [
    "TRANSPORTS",
    "ConsumerClient",
    "PartitionCallback",
    "ProducerClient",
    "TopicPartitionKey",
    "Transport",
    "check_transport",
    "epoch_ms",
    "import_client",
]

Transport = Literal["confluent", "kafka-python"]
TRANSPORTS: tuple[Transport, ...] = ("confluent", "kafka-python")
TopicPartitionKey = tuple[str, int]
PartitionCallback = Callable[[list[TopicPartitionKey]], None]

_INSTALL = {
    "confluent": ("confluent_kafka", "confluent-kafka", "confluent"),
    "kafka-python": ("kafka", "kafka-python", "kafka"),
}


def check_transport(transport: str) -> Transport:
    """The transport name, or a one-line error naming the valid ones.

    >>> check_transport("confluent")
    'confluent'
    >>> check_transport("rdkafka")
    Traceback (most recent call last):
    ...
    ValueError: Kafka transport 'rdkafka' is not one of confluent, kafka-python
    """
    for known in TRANSPORTS:
        if transport == known:
            return known
    raise ValueError(f"Kafka transport {transport!r} is not one of {', '.join(TRANSPORTS)}")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_ms(moment: datetime) -> int:
    """Whole milliseconds since the epoch (floored, exact), as Kafka stamps records.

    >>> epoch_ms(datetime(1970, 1, 1, 0, 0, 1, 500999, tzinfo=UTC))
    1500
    """
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def import_client(transport: str) -> Any:
    """The client module of a transport, or ImportError with the install hint.

    >>> import_client("confluent").__name__
    'confluent_kafka'
    """
    module, distribution, extra = _INSTALL[check_transport(transport)]
    try:
        return __import__(module)
    except ImportError as exc:
        raise ImportError(
            f"Kafka transport {transport!r} needs {distribution}: pip install 'linewatch[{extra}]'"
        ) from exc


class ConsumerClient(Protocol):
    """A group consumer that never auto-commits.

    ``on_revoke`` and ``on_assign`` run on the caller's thread, inside :meth:`poll`:
    revoke before the partitions go away, assign before any of their records is returned.
    """

    def poll(
        self, timeout: float, max_records: int
    ) -> tuple[list[RawRecord], dict[TopicPartitionKey, int]]:
        """A batch of records and, per partition in it, the next offset to commit."""
        ...

    def commit(self, offsets: Mapping[TopicPartitionKey, int], retry_for_s: float) -> None:
        """Commit synchronously; retriable errors are retried, a fenced commit dropped."""
        ...

    def assignment(self) -> list[TopicPartitionKey]: ...

    def lag(self, positions: Mapping[TopicPartitionKey, int]) -> dict[TopicPartitionKey, int]:
        """Per assigned partition, its high watermark minus ``positions`` (the next offset
        to process; confluent falls back on the client's position, kafka-python leaves a
        partition not polled yet out), from what the client last fetched, without a
        broker round trip; a partition whose watermark is not known yet is left out."""
        ...

    def close(self) -> None: ...


class ProducerClient(Protocol):
    """An idempotent producer (acks=all): ``send`` queues, ``flush`` waits for every ack."""

    def send(
        self,
        topic: str,
        value: bytes,
        key: bytes | None,
        headers: list[tuple[str, bytes]] | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
    ) -> None:
        """Queue one message; ``timestamp_ms`` stamps it (None: the send time)."""
        ...

    def flush(self) -> None:
        """Wait for the broker's acks; raise SinkError if any message was not acknowledged."""
        ...

    def close(self) -> None: ...
