"""How a job runs: alert lifecycle, checkpoints, lateness, quarantine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    Field,
)

from linewatch.pipeline.config.sources import KafkaBootstrap, KafkaTransport
from linewatch.pipeline.strict import (
    Count,
    Period,
    Seconds,
)
from linewatch.pipeline.strict import Strict as _Strict

__all__ = [
    "AlertingConfig",
    "CheckpointConfig",
    "KafkaStateConfig",
    "LatenessConfig",
    "MetricsConfig",
    "QuarantineConfig",
    "SeverityName",
]


SeverityName = Literal["critical", "warning", "info"]


def _default_severities() -> dict[str, SeverityName]:
    return {"nelson1": "critical"}


class KafkaStateConfig(_Strict):
    """Detector state in a compacted changelog topic, restorable by any worker."""

    type: Literal["kafka"]
    bootstrap: KafkaBootstrap
    transport: KafkaTransport = "confluent"
    topic: str = "linewatch-state"


class AlertingConfig(_Strict):
    """Alert lifecycle: dedup by fingerprint, resolve after enough clean points."""

    resolve_after_points: Count = 10
    severity: dict[str, SeverityName] = Field(default_factory=_default_severities)
    default_severity: SeverityName = "warning"
    #: Expected in-control false alarms a day a line may have (``check-config`` warns
    #: above it; ``pipeline/budget.py``); ``None``: no budget, the table is still printed.
    false_alarm_budget_per_day: Annotated[float, Field(gt=0.0, le=1e6)] | None = None
    #: Phase I's lag-1 autocorrelation above which a stream is warned about (``None``: off).
    autocorrelation_warn: Annotated[float, Field(gt=0.0, lt=1.0)] | None = 0.5


class CheckpointConfig(_Strict):
    """How often the runner flushes sinks, snapshots state and commits the source."""

    every_records: Annotated[int, Field(ge=1, le=1_000_000_000)] = 50_000
    every_seconds: Period = 5.0
    state_dir: Path | None = None
    changelog: KafkaStateConfig | None = None


class LatenessConfig(_Strict):
    """A record older than its stream's newest by more than this is a dead letter."""

    allowed_lateness_s: Seconds = 300.0
    #: A record this far ahead of its line/station's recent median timestamp is a dead
    #: letter (``future timestamp``) until ``reanchor_after`` such records in a row agree.
    allowed_future_s: Annotated[float, Field(gt=0.0, le=1e9)] = 86_400.0
    reanchor_after: Annotated[int, Field(ge=2, le=1000)] = 5


class QuarantineConfig(_Strict):
    """Records whose processing raised: dead letters, until too many say it is a bug."""

    max_failures: Annotated[int, Field(ge=1, le=1_000_000)] = 100
    window_records: Annotated[int, Field(ge=1, le=100_000_000)] = 10_000


class MetricsConfig(_Strict):
    """``run``'s /metrics (Prometheus) and /healthz endpoint (``pipeline/metrics_http.py``)."""

    #: 0: any free port (the chosen one is logged).
    port: Annotated[int, Field(ge=0, le=65_535)]
    host: str = "127.0.0.1"
    #: /healthz is 503 when the loop has not turned, or records wait for a checkpoint
    #: more than ``checkpoint.every_seconds``, for longer than this.
    stale_after_s: Period = 60.0
