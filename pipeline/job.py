"""Builds a runnable job from a config: source, engine, sink routes, state store.

This is where ``pipeline/`` wires ``connectors/`` and ``detectors/`` together; the CLI
only parses arguments and calls in here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, ParamSpec

from linewatch.connectors.console import ConsoleSink
from linewatch.connectors.files import FileSource, JsonlSink
from linewatch.connectors.memory import IterableSource
from linewatch.pipeline.checkpoint import LocalStateStore
from linewatch.pipeline.config import (
    Config,
    ConsoleSinkConfig,
    FileSourceConfig,
    InfluxSinkConfig,
    InfluxSourceConfig,
    JsonlSinkConfig,
    KafkaDeadLetterConfig,
    KafkaSinkConfig,
    KafkaSourceConfig,
    SimulationConfig,
    SimulatorSourceConfig,
)
from linewatch.pipeline.engine import Engine
from linewatch.pipeline.models import Sink, Source, WireRecord
from linewatch.pipeline.report import FaultWindow, KpiCollector, render_report, write_report
from linewatch.pipeline.runner import Route, Runner, RunSummary

_P = ParamSpec("_P")

__all__ = ["Job", "JobError", "build_job", "simulated_records", "simulation_spec"]


class JobError(RuntimeError):
    """A job that cannot start (no source, unreadable input, bad fault spec...)."""


def simulation_spec(simulation: SimulationConfig) -> Any:
    """The simulator's line spec built from the config's ``simulation`` section."""
    from linewatch.connectors import simulator as sim

    stations = tuple(
        sim.StationSim(
            name=station.name,
            characteristics=tuple(
                sim.CharacteristicSim(c.name, c.mean, c.sigma, c.subgroup_size)
                for c in station.characteristics
            ),
            parameters=tuple(
                sim.ParameterSim(p.equipment, p.name, p.mean, p.sigma, p.phi)
                for p in station.parameters
            ),
            inspects=station.inspects,
            defects=tuple(
                sim.DefectSim(d.code, d.base_rate, d.driver, d.sensitivity, d.lag_s, d.reworkable)
                for d in station.defects
            ),
            lot_size=station.lot_size,
        )
        for station in simulation.stations
    )
    return sim.LineSim(
        line=simulation.line,
        stations=stations,
        cycle_s=simulation.cycle_s,
        station_gap_s=simulation.station_gap_s,
        jitter_frac=simulation.jitter_frac,
    )


def simulated_records(
    simulation: SimulationConfig,
    minutes: float,
    faults: Sequence[str] | None = None,
    seed: int | None = None,
    start: datetime | None = None,
) -> tuple[Iterator[WireRecord], list[dict[str, Any]]]:
    """The simulator's records and the ground truth of the faults injected in them."""
    from linewatch.connectors import simulator as sim

    texts = simulation.faults if faults is None else list(faults)
    try:
        line = simulation_spec(simulation)
    except ValueError as exc:  # e.g. a defect driver that names no parameter
        raise JobError(f"simulation: {exc}") from exc
    try:
        parsed = [sim.parse_fault(text) for text in texts]
        sim.validate_faults(line, parsed)
    except ValueError as exc:
        raise JobError(f"bad fault: {exc}") from exc
    begin = start or simulation.start
    records = sim.simulate(
        line, begin, minutes, parsed, seed=simulation.seed if seed is None else seed
    )
    return records, sim.fault_windows(parsed, begin)


@dataclass
class Job:
    """A ready-to-run job: call :meth:`run`, then :meth:`finish`."""

    config: Config
    engine: Engine
    source: Source
    runner: Runner
    kpis: KpiCollector
    report_path: Path | None
    faults: list[FaultWindow] = field(default_factory=list)
    resumed_from: dict[str, Any] | None = None

    def run(self) -> RunSummary:
        return self.runner.run()

    def finish(self) -> str:
        """Close sinks and source, write the report; returns the report text."""
        self.runner.close()
        text = render_report(
            self.runner.summary,
            self.engine.stream_stats,
            self.kpis,
            unconfigured=self.engine.unconfigured,
            refused={
                k: (n, self.engine.refused_reasons[k]) for k, n in self.engine.refused.items()
            },
            defect_codes=self.engine.defect_codes,
            faults=self.faults,
        )
        if self.report_path is not None:
            write_report(self.report_path, text)
        return text


def _influx_sink(config: InfluxSinkConfig) -> Sink:
    from linewatch.connectors.influxdb import InfluxSink
    from linewatch.pipeline.models import SinkError

    try:
        return InfluxSink.from_url(
            config.url,
            batch_size=config.batch_size,
            spool_dir=config.spool_dir,
            spool_max_bytes=int(config.spool_max_mb * 1024 * 1024),
            retry_for_s=config.retry_for_s,
        )
    except (SinkError, ValueError) as exc:
        raise JobError(f"InfluxDB sink: {exc}") from exc


def influx_source(
    url: str,
    start: datetime,
    stop: datetime,
    page_size: int = 5000,
    batch_size: int = 1000,
    start_after: int = 0,
) -> Source:
    """Records of ``[start, stop)`` read back from InfluxDB (``replay --from influx://``)."""
    from linewatch.connectors.influxdb import InfluxSource, InfluxSourceError

    try:
        return InfluxSource.from_url(
            url, start, stop, page_size=page_size, batch_size=batch_size, start_after=start_after
        )
    except (InfluxSourceError, ValueError) as exc:
        raise JobError(f"InfluxDB source: {exc}") from exc


def _kafka_source(source: KafkaSourceConfig, callbacks: _RebalanceCallbacks) -> Source:
    from linewatch.connectors.kafka import KafkaSource, partition_counts

    counts = partition_counts(source.bootstrap, source.topics, transport=source.transport)
    if len(set(counts.values())) > 1:
        raise JobError(
            f"source.topics must have the same number of partitions (co-partitioned "
            f"by line/station), got {counts}"
        )
    callbacks.partitions = next(iter(counts.values()))
    return KafkaSource(
        source.bootstrap,
        source.topics,
        source.group_id,
        batch_size=source.batch_size,
        idle_exit_s=source.idle_exit_s,
        on_revoke=callbacks.revoked,
        on_assign=callbacks.assigned,
        consumer_config=source.consumer,
        transport=source.transport,
    )


@dataclass
class _RebalanceCallbacks:
    """Lets the Kafka source call the runner, which is built after it."""

    runner: Runner | None = None
    partitions: int = 0

    def revoked(self, partitions: list[tuple[str, int]]) -> None:
        if self.runner is not None:
            self.runner.on_partitions_revoked(partitions)

    def assigned(self, partitions: list[tuple[str, int]]) -> None:
        if self.runner is not None:
            self.runner.on_partitions_assigned(partitions)


def _source(
    config: Config,
    input_path: Path | None,
    start_after: int,
    callbacks: _RebalanceCallbacks,
    source_override: Source | None,
) -> Source:
    if source_override is not None:
        return source_override
    if input_path is not None:
        return FileSource(input_path, start_after=start_after)
    source = config.source
    if source is None:
        raise JobError("the config has no 'source' and no input file was given")
    if isinstance(source, FileSourceConfig):
        return FileSource(
            source.path, format=source.format, batch_size=source.batch_size, start_after=start_after
        )
    if isinstance(source, SimulatorSourceConfig):
        assert config.simulation is not None  # the config validator guarantees it
        records, _ = simulated_records(config.simulation, source.minutes)
        return IterableSource(
            records, name="simulator", batch_size=source.batch_size, start_after=start_after
        )
    if isinstance(source, KafkaSourceConfig):
        return _kafka_source(source, callbacks)
    if isinstance(source, InfluxSourceConfig):
        return influx_source(
            source.url, source.start, source.stop, source.page_size, source.batch_size, start_after
        )
    raise JobError(f"unsupported source {source!r}")


def _place(path: Path, out_dir: Path | None) -> Path:
    if out_dir is None or path.is_absolute():
        return path
    return out_dir / path.name


def _client_missing_is_a_job_error(build: Callable[_P, Job]) -> Callable[_P, Job]:
    """An optional client library that is not installed: one line with its install hint."""

    @functools.wraps(build)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> Job:
        try:
            return build(*args, **kwargs)
        except ImportError as exc:
            raise JobError(str(exc)) from exc

    return wrapper


@_client_missing_is_a_job_error
def build_job(
    config: Config,
    *,
    mode: Literal["run", "replay"],
    input_path: Path | None = None,
    out_dir: Path | None = None,
    state_dir: Path | None = None,
    report_path: Path | None = None,
    faults: Sequence[FaultWindow] = (),
    console: ConsoleSink | None = None,
    source: Source | None = None,
) -> Job:
    """Assemble source, engine, sinks and state for ``run`` (resumable) or ``replay`` (fresh)."""
    append = mode == "run"
    routes: list[Route] = []
    for number, sink_config in enumerate(config.sinks):
        sink: Sink
        if isinstance(sink_config, JsonlSinkConfig):
            sink = JsonlSink(_place(sink_config.path, out_dir), append=append)
        elif isinstance(sink_config, ConsoleSinkConfig):
            sink = console or ConsoleSink("live" if mode == "run" else "table")
        elif isinstance(sink_config, InfluxSinkConfig):
            sink = _influx_sink(sink_config)
        elif isinstance(sink_config, KafkaSinkConfig):
            from linewatch.connectors.kafka import KafkaAlertSink

            sink = KafkaAlertSink(
                sink_config.bootstrap,
                sink_config.alerts_topic,
                sink_config.points_topic,
                sink_config.producer,
                transport=sink_config.transport,
            )
        else:  # pragma: no cover - the config union has no other member
            raise JobError(f"sinks[{number}]: unsupported sink {sink_config!r}")
        routes.append(Route(sink, frozenset(sink_config.outputs), f"sinks[{number}]"))
    kpis = KpiCollector()
    routes.append(Route(kpis, frozenset({"kpis"}), "report"))
    dead_letters: Sink
    if isinstance(config.dead_letters, KafkaDeadLetterConfig):
        from linewatch.connectors.kafka import KafkaDeadLetterSink

        dead_letters = KafkaDeadLetterSink(
            config.dead_letters.bootstrap,
            config.dead_letters.topic,
            transport=config.dead_letters.transport,
        )
    else:
        dead_letters = JsonlSink(_place(config.dead_letters.path, out_dir), append=append)

    engine = Engine(config)
    store_dir = state_dir or config.checkpoint.state_dir
    store = LocalStateStore(store_dir) if store_dir is not None else None
    checkpoint = store.load() if (store is not None and mode == "run") else None
    start_after = int(checkpoint.source.get("records", 0)) if checkpoint else 0
    callbacks = _RebalanceCallbacks()
    try:
        source = _source(config, input_path, start_after, callbacks, source)
    except OSError as exc:
        raise JobError(f"cannot open the input: {exc}") from exc
    changelog = None
    if config.checkpoint.changelog is not None and mode == "run":
        from linewatch.connectors.kafka import KafkaStateStore

        if not callbacks.partitions:
            raise JobError("checkpoint.changelog needs a kafka source")
        state = config.checkpoint.changelog
        changelog = KafkaStateStore(state.bootstrap, state.topic, transport=state.transport)
        changelog.ensure_topic(callbacks.partitions)
        from linewatch.connectors.kafka import partition_counts

        topic = config.checkpoint.changelog.topic
        found = partition_counts(state.bootstrap, [topic], transport=state.transport)[topic]
        if found != callbacks.partitions:
            raise JobError(
                f"checkpoint.changelog: topic {topic!r} has {found} partitions, the input "
                f"topics {callbacks.partitions}; state is kept per input partition"
            )
    runner = Runner(
        engine,
        source,
        routes,
        dead_letters,
        state_store=store,
        changelog=changelog,
        checkpoint_every_records=config.checkpoint.every_records,
        checkpoint_every_seconds=config.checkpoint.every_seconds,
    )
    callbacks.runner = runner
    if checkpoint is not None:
        runner.restore(checkpoint)
    if report_path is None and config.report_path is not None:
        report_path = _place(config.report_path, out_dir)
    return Job(
        config,
        engine,
        source,
        runner,
        kpis,
        report_path,
        list(faults),
        checkpoint.source if checkpoint else None,
    )
