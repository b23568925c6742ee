"""Where outputs go (by ``type``), and where dead letters go."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    Discriminator,
    Field,
    Tag,
    WrapValidator,
)

from linewatch.pipeline.config.sources import InfluxUrl, KafkaBootstrap, KafkaTransport
from linewatch.pipeline.plugins import validate_sink
from linewatch.pipeline.strict import (
    Count,
)
from linewatch.pipeline.strict import Strict as _Strict

__all__ = [
    "ConsoleSinkConfig",
    "CsvScoresSinkConfig",
    "DeadLetterConfig",
    "InfluxSinkConfig",
    "JsonlDeadLetterConfig",
    "JsonlSinkConfig",
    "KafkaDeadLetterConfig",
    "KafkaSinkConfig",
    "OutputKind",
    "SinkConfig",
]


OutputKind = Literal["alerts", "points", "kpis", "model_scores", "records"]


def _alerts_only() -> list[OutputKind]:
    return ["alerts"]


def _derived_outputs() -> list[OutputKind]:
    return ["alerts", "points", "kpis"]


class JsonlSinkConfig(_Strict):
    """Appends outputs to a JSON-lines file, one object per line."""

    type: Literal["jsonl"]
    path: Path
    outputs: list[OutputKind] = Field(default_factory=_alerts_only)


class ConsoleSinkConfig(_Strict):
    """Prints alerts as they fire (``run``) or as a table at the end (``replay``)."""

    type: Literal["console"]
    outputs: list[OutputKind] = Field(default_factory=_alerts_only)


class KafkaSinkConfig(_Strict):
    """Alerts to a topic keyed by fingerprint; chart points to another topic, optionally."""

    type: Literal["kafka"]
    bootstrap: KafkaBootstrap
    transport: KafkaTransport = "confluent"
    alerts_topic: str = "linewatch-alerts"
    points_topic: str | None = None
    outputs: list[OutputKind] = Field(default_factory=_alerts_only)
    producer: dict[str, Any] = Field(default_factory=dict)


class InfluxSinkConfig(_Strict):
    """Writes outputs (and raw records, for replay) to InfluxDB; never drops a point.

    ``url`` is ``influx://[user:password@]HOST:PORT/DB[?rp=..&api=v1|v2&token=..&org=..]``
    (``influxs://`` for https). While the server is away, batches go to a bounded on-disk
    spool; when it is full, the runner stops polling and does not commit.
    """

    type: Literal["influx"]
    url: InfluxUrl
    outputs: list[OutputKind] = Field(default_factory=_derived_outputs)
    batch_size: Count = 5000
    spool_dir: Path | None = None
    spool_max_mb: Annotated[float, Field(gt=0.0, le=1e7)] = 256.0
    retry_for_s: Annotated[float, Field(gt=0.0, le=7 * 24 * 3600.0)] = 10.0


def _score_outputs() -> list[OutputKind]:
    return ["points", "model_scores"]


class CsvScoresSinkConfig(_Strict):
    """Chart points (statistic, limits, zone, violations) and model scores as CSV rows."""

    type: Literal["csv_scores"]
    path: Path
    outputs: list[OutputKind] = Field(default_factory=_score_outputs)


#: A sink config: the model registered for its ``type`` (see :mod:`~linewatch.pipeline.plugins`).
SinkConfig = Annotated[Any, WrapValidator(validate_sink)]


class JsonlDeadLetterConfig(_Strict):
    """Dead letters in a JSON-lines file, each with its reason and original payload."""

    type: Literal["jsonl"] = "jsonl"
    path: Path = Path("out/dead-letters.jsonl")


class KafkaDeadLetterConfig(_Strict):
    """Dead letters to a topic: original key, bytes and headers, plus reason headers."""

    type: Literal["kafka"]
    bootstrap: KafkaBootstrap
    transport: KafkaTransport = "confluent"
    topic: str = "linewatch-dead-letters"


def _dead_letter_type(value: Any) -> str:
    if isinstance(value, Mapping):
        return str(value.get("type", "jsonl"))
    return str(getattr(value, "type", "jsonl"))


DeadLetterConfig = Annotated[
    Annotated[JsonlDeadLetterConfig, Tag("jsonl")] | Annotated[KafkaDeadLetterConfig, Tag("kafka")],
    Discriminator(_dead_letter_type),
]
