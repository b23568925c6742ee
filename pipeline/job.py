"""Builds a runnable job from a config: source, engine, sink routes, state store.

This is where ``pipeline/`` wires ``connectors/`` and ``detectors/`` together; the CLI
only parses arguments and calls in here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from linewatch.connectors.console import ConsoleSink
from linewatch.connectors.files import FileSource, InputDamaged, JsonlSink, UnsupportedFormat
from linewatch.connectors.memory import IterableSource
from linewatch.connectors.simulator import (
    Simulation,
    fault_windows,
    parse_fault,
    simulate,
    validate_faults,
)
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
    SimulatorSourceConfig,
)
from linewatch.pipeline.engine import Engine
from linewatch.pipeline.models import AlertAnnotation, Sink, Source, WireRecord
from linewatch.pipeline.notify.annotations import ANNOTATIONS_FILE, AnnotationLog
from linewatch.pipeline.notify.runtime import Notifier
from linewatch.pipeline.report import FaultWindow, KpiCollector, render_report, write_report
from linewatch.pipeline.runner import Route, Runner, RunSummary

__all__ = ["Job", "JobError", "build_job", "simulated_records"]


class JobError(RuntimeError):
    """A job that cannot start (no source, unreadable input, bad fault spec...)."""


def simulated_records(
    simulation: Simulation,
    minutes: float,
    faults: Sequence[str] | None = None,
    seed: int | None = None,
    start: datetime | None = None,
) -> tuple[Iterator[WireRecord], list[dict[str, Any]]]:
    """The simulator's records and the ground truth of the faults injected in them.

    ``faults`` (fault texts), ``seed`` and ``start`` replace the simulation's own.
    """
    try:
        parsed = list(simulation.faults) if faults is None else [parse_fault(t) for t in faults]
        validate_faults(simulation, parsed)
    except ValueError as exc:
        raise JobError(f"bad fault: {exc}") from exc
    begin = start or simulation.start
    records = simulate(
        simulation, begin, minutes, parsed, seed=simulation.seed if seed is None else seed
    )
    return records, fault_windows(parsed, begin)


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
    notifier: Notifier | None = None

    def run(self) -> RunSummary:
        return self.runner.run()

    @property
    def damage(self) -> InputDamaged | None:
        """Why the input file could not be read to its end (the run still finished)."""
        damage = getattr(self.source, "damage", None)
        return damage if isinstance(damage, InputDamaged) else None

    def finish(self) -> str:
        """Close sinks and source, write the report; returns the report text."""
        if self.notifier is not None and not self.runner.summary.stopped_by_request:
            # A finite input ended: let the last groups go out (SIGTERM cuts it short).
            self.notifier.drain(lambda: self.runner.summary.stopped_by_request)
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
            annotations=_annotations(self.config),
            damage=str(self.damage) if self.damage is not None else None,
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

    counts = partition_counts(source.bootstrap, source.topics)
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
    notify: bool | None = None,
    notify_event_clock: bool = False,
) -> Job:
    """Assemble source, engine, sinks and state for ``run`` (resumable) or ``replay`` (fresh).

    ``notify`` (default: ``run`` yes, ``replay`` no) adds the config's ``notifications``.
    """
    append = mode == "run"
    routes: list[Route] = []
    notifier = _notifier(config, mode, notify, notify_event_clock, out_dir)
    if notifier is not None:
        kinds = {"alerts", "points"} if notify_event_clock else {"alerts"}
        routes.append(Route(notifier, frozenset(kinds), "notifications"))
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
            )
        else:  # pragma: no cover - the config union has no other member
            raise JobError(f"sinks[{number}]: unsupported sink {sink_config!r}")
        routes.append(Route(sink, frozenset(sink_config.outputs), f"sinks[{number}]"))
    kpis = KpiCollector()
    routes.append(Route(kpis, frozenset({"kpis"}), "report"))
    dead_letters: Sink
    if isinstance(config.dead_letters, KafkaDeadLetterConfig):
        from linewatch.connectors.kafka import KafkaDeadLetterSink

        dead_letters = KafkaDeadLetterSink(config.dead_letters.bootstrap, config.dead_letters.topic)
    else:
        dead_letters = JsonlSink(_place(config.dead_letters.path, out_dir), append=append)

    engine = Engine(config)
    engine.alerts.clock = _wall_clock  # Alert.emitted_at: processing time
    store_dir = state_dir or config.checkpoint.state_dir
    store = LocalStateStore(store_dir) if store_dir is not None else None
    checkpoint = store.load() if (store is not None and mode == "run") else None
    start_after = int(checkpoint.source.get("records", 0)) if checkpoint else 0
    callbacks = _RebalanceCallbacks()
    try:
        source = _source(config, input_path, start_after, callbacks, source)
    except OSError as exc:
        raise JobError(f"cannot open the input: {exc}") from exc
    except UnsupportedFormat as exc:
        raise JobError(str(exc)) from exc
    changelog = None
    if config.checkpoint.changelog is not None and mode == "run":
        from linewatch.connectors.kafka import KafkaStateStore

        if not callbacks.partitions:
            raise JobError("checkpoint.changelog needs a kafka source")
        changelog = KafkaStateStore(
            config.checkpoint.changelog.bootstrap, config.checkpoint.changelog.topic
        )
        changelog.ensure_topic(callbacks.partitions)
        from linewatch.connectors.kafka import partition_counts

        topic = config.checkpoint.changelog.topic
        found = partition_counts(config.checkpoint.changelog.bootstrap, [topic])[topic]
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
        notifier,
    )


def _annotations(config: Config) -> list[AlertAnnotation]:
    """Acknowledgements and causes recorded by ``linewatch serve``, for the report."""
    if config.notifications is None:
        return []
    return AnnotationLog(config.notifications.state_dir / ANNOTATIONS_FILE).all()


def _wall_clock() -> datetime:
    return datetime.now(UTC)


def _notifier(
    config: Config,
    mode: Literal["run", "replay"],
    notify: bool | None,
    event_clock: bool,
    out_dir: Path | None,
) -> Notifier | None:
    """``run`` notifies when the config says so; ``replay`` only when asked (``--notify``)."""
    if notify is None:
        notify = mode == "run" and config.notifications is not None
    if not notify:
        return None
    if config.notifications is None:
        raise JobError("--notify needs a 'notifications' section in the config")
    from linewatch.pipeline.notify.build import NotifyConfigError

    # A replay starts fresh, with its state beside its outputs; a run resumes its own.
    state_dir = None if mode == "run" or out_dir is None else out_dir / "notify"
    try:
        return Notifier(
            config.notifications,
            state_dir=state_dir,
            restore=mode == "run",
            event_clock=event_clock,
        )
    except (NotifyConfigError, ValueError, OSError) as exc:
        raise JobError(str(exc)) from exc
