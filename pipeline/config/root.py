"""The whole configuration of a job (:class:`Config`), section by section."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import (
    Field,
    model_validator,
)

from linewatch.connectors.simulator import Simulation
from linewatch.pipeline.config.charts import Convention
from linewatch.pipeline.config.lines import LineConfig
from linewatch.pipeline.config.runtime import (
    AlertingConfig,
    CheckpointConfig,
    LatenessConfig,
    MetricsConfig,
    QuarantineConfig,
)
from linewatch.pipeline.config.sinks import DeadLetterConfig, JsonlDeadLetterConfig, SinkConfig
from linewatch.pipeline.config.sources import KafkaSourceConfig, SimulatorSourceConfig, SourceConfig
from linewatch.pipeline.notify.config import NotificationsConfig
from linewatch.pipeline.strict import Strict as _Strict
from linewatch.pipeline.strict import (
    duplicates,
    names_of,
)

__all__ = [
    "Config",
]


class Config(_Strict):
    """The whole configuration of a Linewatch job."""

    version: Literal[1] = 1
    lines: list[LineConfig]
    source: SourceConfig = None
    sinks: list[SinkConfig] = Field(default_factory=list)
    dead_letters: DeadLetterConfig = Field(default_factory=JsonlDeadLetterConfig)
    alerting: AlertingConfig = Field(default_factory=AlertingConfig)
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    lateness: LatenessConfig = Field(default_factory=LatenessConfig)
    quarantine: QuarantineConfig = Field(default_factory=QuarantineConfig)
    # the simulator's own spec type: validated straight into it, no mirrored config class
    simulation: Simulation | None = None
    report_path: Path | None = None
    #: Who hears of alerts, and when (``pipeline/notify``); None: nobody is notified.
    notifications: NotificationsConfig | None = None
    #: The default ``conventions`` of every characteristic and parameter (each may override).
    conventions: Convention = "minitab"
    #: ``run``'s Prometheus /metrics and /healthz (``--metrics-port`` overrides the port).
    metrics: MetricsConfig | None = None
    #: An approved limits file (``linewatch limits``): charts start from its limits.
    limits: Path | None = None
    _checks = ("_unique_lines", "_simulator_has_simulation", "_changelog_has_kafka")

    @model_validator(mode="before")
    @classmethod
    def _spread_conventions(cls, data: Any) -> Any:
        """The global ``conventions`` given to every stream that names none (a copy)."""
        if not isinstance(data, dict) or data.get("conventions") not in get_args(Convention):
            return data  # absent (each stream's own, else minitab) or bad (reported once)
        return {**data, "lines": _with_default(data.get("lines"), data["conventions"])}

    def _unique_lines(self) -> Iterator[str]:
        yield from duplicates(names_of(self.lines, "name"), "line")

    def _simulator_has_simulation(self) -> Iterator[str]:
        if isinstance(self.source, SimulatorSourceConfig) and self.simulation is None:
            yield "source type 'simulator' needs a 'simulation' section"

    def _changelog_has_kafka(self) -> Iterator[str]:
        if self.checkpoint.changelog is not None and not isinstance(self.source, KafkaSourceConfig):
            yield "checkpoint.changelog needs a kafka source"


def _with_default(lines: Any, convention: str) -> Any:
    """``lines`` with ``conventions: convention`` set on streams without one (new dicts)."""
    if not isinstance(lines, list):
        return lines
    out: list[Any] = []
    for line in lines:
        stations = line.get("stations") if isinstance(line, dict) else None
        if not isinstance(stations, list):
            out.append(line)
            continue
        new_stations: list[Any] = []
        for station in stations:
            if isinstance(station, dict):
                station = dict(station)
                for key in ("characteristics", "parameters"):
                    streams = station.get(key)
                    if isinstance(streams, list):
                        station[key] = [
                            {"conventions": convention, **s} if isinstance(s, dict) else s
                            for s in streams
                        ]
            new_stations.append(station)
        out.append({**line, "stations": new_stations})
    return out
