"""Where records come from: a file, the simulator, Kafka or InfluxDB (by ``type``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    Field,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)

from linewatch.pipeline.plugins import validate_source
from linewatch.pipeline.strict import (
    YEAR_S,
    Count,
    Period,
)
from linewatch.pipeline.strict import Strict as _Strict

__all__ = [
    "FileSourceConfig",
    "InfluxSourceConfig",
    "InfluxUrl",
    "KafkaBootstrap",
    "KafkaSourceConfig",
    "SimulatorSourceConfig",
    "SourceConfig",
]


class FileSourceConfig(_Strict):
    """Records from a file in the wire format: JSONL, CSV or Parquet (``.gz`` for text)."""

    type: Literal["file"]
    path: Path
    format: Literal["auto", "jsonl", "csv", "parquet"] = "auto"
    batch_size: Count = 1000


class SimulatorSourceConfig(_Strict):
    """Records made on the fly by the simulator from the ``simulation`` section."""

    type: Literal["simulator"]
    minutes: Annotated[float, Field(gt=0.0, le=YEAR_S / 60)] = 60.0
    batch_size: Count = 1000


KafkaBootstrap = Annotated[str, Field(min_length=3, pattern=r"^[^\s/]+:\d+(,[^\s/]+:\d+)*$")]
# The Kafka client: confluent-kafka (librdkafka), or kafka-python for pure-Python installs.
KafkaTransport = Literal["confluent", "kafka-python"]


class KafkaSourceConfig(_Strict):
    """Wire records from Kafka topics, in a consumer group, committed by hand.

    All input topics must have the same number of partitions (co-partitioned by the
    ``line/station`` key), as a Kafka Streams join requires.
    """

    type: Literal["kafka"]
    bootstrap: KafkaBootstrap
    transport: KafkaTransport = "confluent"
    topics: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)
    group_id: Annotated[str, Field(min_length=1)] = "linewatch"
    batch_size: Count = 5000
    # The longest a polled record waits for its batch to fill (latency vs batch size).
    max_batch_wait_ms: Annotated[float, Field(ge=0.0, le=60_000.0)] = 10.0
    idle_exit_s: Period | None = None
    consumer: dict[str, Any] = Field(default_factory=dict)
    #: The defect predictor's line stage (pipeline/repartition.py): partitions of a new
    #: repartition topic (None: as the input) and the watermark's grace (None: lateness).
    repartition_partitions: Count | None = None
    repartition_grace_s: Annotated[float, Field(ge=0.0, le=1e7)] | None = None


InfluxUrl = Annotated[str, Field(pattern=r"^influxs?://")]


class InfluxSourceConfig(_Strict):
    """Raw records of ``[start, stop)`` read back from InfluxDB, in time order, in pages."""

    type: Literal["influx"]
    url: InfluxUrl
    start: AwareDatetime
    stop: AwareDatetime
    page_size: Count = 5000
    batch_size: Count = 1000
    _checks = ("_ordered",)

    def _ordered(self) -> Iterator[str]:
        if self.stop <= self.start:
            yield f"stop ({self.stop.isoformat()}) must be after start"


def _source_or_none(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    return None if value is None else validate_source(value, handler)


#: A source config: the model registered for its ``type`` (see :mod:`~linewatch.pipeline.plugins`).
SourceConfig = Annotated[Any, WrapValidator(_source_or_none)]
