"""Builds a runnable job from a config: source, engine, sink routes, state store.

This is where ``pipeline/`` wires ``connectors/`` and ``detectors/`` together; the CLI
only parses arguments and calls in here.

Resuming (``run`` with a state dir) trusts a checkpoint only if it is whole (see
:mod:`linewatch.pipeline.checkpoint`) and was saved for this input: the same file (path,
size at least the saved one, same first block) or the same Kafka topics and group. The
JSONL sinks are then cut back to their length at the checkpoint, so the lines written after
it, which the resumed records write again, are not duplicated. A run without a checkpoint
saves one before its first record, so a crash before the first periodic checkpoint is
covered too. ``reset_state`` forgets the checkpoint and starts the JSONL outputs afresh.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, ParamSpec

from pydantic import TypeAdapter

from linewatch.connectors.console import ConsoleSink
from linewatch.connectors.csv_scores import CsvScoresSink
from linewatch.connectors.files import FileSource, InputDamaged, JsonlSink, UnsupportedFormat
from linewatch.connectors.simulator import (
    Simulation,
)
from linewatch.pipeline.budget_autocorr import AutocorrelationWatch
from linewatch.pipeline.checkpoint import RESET_HINT, Checkpoint, CheckpointError, LocalStateStore
from linewatch.pipeline.columnar_replay import ColumnarReplay
from linewatch.pipeline.config import (
    Config,
    InfluxSourceConfig,
    KafkaDeadLetterConfig,
    KafkaSourceConfig,
    SimulatorSourceConfig,
)
from linewatch.pipeline.engine import Engine
from linewatch.pipeline.job_sources import (
    JobError,
    build_source,
    from_kafka,
    simulated_records,
    two_stage_source,
)
from linewatch.pipeline.limits_file import LimitsFileError, StreamLimits
from linewatch.pipeline.limits_seed import limits_seeder
from linewatch.pipeline.models import AlertAnnotation, Sink, Source
from linewatch.pipeline.notify.annotations import ANNOTATIONS_FILE, AnnotationLog
from linewatch.pipeline.notify.runtime import Notifier
from linewatch.pipeline.plugins import (
    SinkContext,
    sink_plugin,
)
from linewatch.pipeline.poll_lane import PollLane
from linewatch.pipeline.report import FaultWindow, KpiCollector, render_report, write_report
from linewatch.pipeline.report_data import ChartCollector, collector_for
from linewatch.pipeline.rootcause import (
    METHOD,
    RootCause,
    rank_root_causes,
    ranking_markdown,
    station_order,
    to_report,
)
from linewatch.pipeline.rootcause_data import SeriesCollector
from linewatch.pipeline.runner import QuarantineExceeded, Route, Runner, RunSummary
from linewatch.pipeline.sinks import SinkBuildError

__all__ = [
    "CHART_REPORT_SUFFIXES",
    "Job",
    "JobError",
    "StopLatch",
    "build_job",
    "input_identity",
    "simulated_records",
]

#: Bytes of an input file hashed to recognise it on resume.
HEAD_BYTES = 1 << 16

#: Report paths that get the charted (HTML) report instead of Markdown.
CHART_REPORT_SUFFIXES = frozenset({".html", ".htm", ".pdf"})

_P = ParamSpec("_P")


class StopLatch:
    """A stop asked for before the runner exists (SIGTERM while a resume loads) is kept."""

    def __init__(self) -> None:
        self.requested = False
        self._target: Callable[[], None] | None = None

    def request(self) -> None:
        self.requested = True
        if self._target is not None:
            self._target()

    def attach(self, target: Callable[[], None]) -> None:
        self._target = target
        if self.requested:
            target()


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
    charts: ChartCollector | None = None  # for an HTML or PDF report
    chart_export_dir: Path | None = None  # replay --export-charts
    series: SeriesCollector | None = None  # for the root-cause ranking
    root_causes: list[RootCause] = field(default_factory=list)
    notifier: Notifier | None = None  # the config's notifications (pipeline/notify)
    autocorrelation: AutocorrelationWatch | None = None  # phase I's, for the report

    def run(self) -> RunSummary:
        try:
            return self.runner.run()
        except QuarantineExceeded as exc:
            self.finish()  # the report and the closed sinks still show what happened
            raise JobError(str(exc)) from None

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
        if self.series is not None:
            self.root_causes = rank_root_causes(self.series, station_order(self.config))
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
            root_cause=None if self.series is None else ranking_markdown(self.root_causes),
            autocorrelation=self.autocorrelation.warnings() if self.autocorrelation else (),
        )
        if self.report_path is not None and self.charts is not None:
            from linewatch.pipeline.report_export import write_report_file
            from linewatch.pipeline.report_html import ReportError, build_html_report

            report = build_html_report(
                self.runner.summary,
                self.engine.stream_stats,
                self.charts,
                defect_codes=dict(self.engine.defect_codes),
                faults=self.faults,
                ranking=to_report(self.root_causes),
                ranking_method=METHOD,
                autocorrelation=self.autocorrelation.warnings() if self.autocorrelation else (),
            )
            try:
                write_report_file(report, self.report_path, self.chart_export_dir)
            except (ReportError, OSError) as exc:
                raise JobError(f"report {self.report_path}: {exc}") from exc
        elif self.report_path is not None:
            write_report(self.report_path, text)
        return text


def input_identity(config: Config, source: Source) -> dict[str, Any]:
    """What the source is, saved with a checkpoint and checked on resume."""
    if isinstance(source, FileSource):
        path = source.path.resolve()
        size = path.stat().st_size
        with path.open("rb") as file:
            head = file.read(HEAD_BYTES)
        return {
            "kind": "file",
            "path": str(path),
            "size": size,
            "head_bytes": len(head),
            "head_sha256": hashlib.sha256(head).hexdigest(),
        }
    configured = config.source
    if isinstance(configured, KafkaSourceConfig):
        return {"kind": "kafka", "topics": sorted(configured.topics), "group": configured.group_id}
    if isinstance(configured, SimulatorSourceConfig) and config.simulation is not None:
        text = TypeAdapter(Simulation).dump_json(config.simulation)
        return {"kind": "simulator", "simulation_sha256": hashlib.sha256(text).hexdigest()}
    if isinstance(configured, InfluxSourceConfig):
        return {
            "kind": "influx",
            "start": configured.start.isoformat(),
            "stop": configured.stop.isoformat(),
        }
    return {"kind": type(source).__name__}


def _identity_problem(saved: dict[str, Any], current: dict[str, Any]) -> str | None:
    if saved.get("kind") != current.get("kind"):
        return f"saved for a {saved.get('kind')!r} source, this one is {current.get('kind')!r}"
    if current["kind"] != "file":
        different = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
        if different:
            return f"saved for another {current['kind']} source ({', '.join(different)} differ)"
        return None
    if saved.get("path") != current["path"]:
        return f"saved for input {saved.get('path')}, not {current['path']}"
    size, head_bytes = saved.get("size"), saved.get("head_bytes")
    if not isinstance(size, int) or not isinstance(head_bytes, int) or size < 0:
        return "the saved input identity is not valid"
    if current["size"] < size:
        return f"{current['path']} is now {current['size']} bytes, at the checkpoint {size}"
    with Path(current["path"]).open("rb") as file:
        head = file.read(head_bytes)
    if hashlib.sha256(head).hexdigest() != saved.get("head_sha256"):
        return (
            f"{current['path']} is not the file the checkpoint was saved for (first block differs)"
        )
    return None


def _records_bound(identity: dict[str, Any]) -> int | None:
    """Most records a file input can hold: a line per two bytes (deflate packs 1032:1)."""
    if identity.get("kind") != "file":
        return None
    size = int(identity["size"])
    return size * 1032 if str(identity["path"]).lower().endswith(".gz") else size


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
    reset_state: bool = False,
    notify: bool | None = None,
    notify_event_clock: bool = False,
    limits: tuple[Path, Mapping[tuple[str, str, str], StreamLimits]] | None = None,
    columnar: bool = True,
) -> Job:
    """Assemble source, engine, sinks and state for ``run`` (resumable) or ``replay`` (fresh).

    ``notify`` (default: ``run`` yes, ``replay`` no) adds the config's ``notifications``.
    ``limits`` (a limits file and its streams' limits) seeds those charts: no phase I.
    ``columnar``: the columnar lane, for a Parquet replay (pipeline/columnar_replay.py) and
    for every poll batch (pipeline/poll_lane.py); ``False`` forces the per-record path.
    """
    append = mode == "run"
    store_dir = state_dir or config.checkpoint.state_dir
    store = LocalStateStore(store_dir) if store_dir is not None else None
    if reset_state and store is not None and mode == "run":
        store.clear()
    try:
        checkpoint = store.load() if (store is not None and mode == "run") else None
    except CheckpointError as exc:
        raise JobError(str(exc)) from None
    routes: list[Route] = []
    notifier = _notifier(config, mode, notify, notify_event_clock, out_dir)
    if notifier is not None:
        kinds = {"alerts", "points"} if notify_event_clock else {"alerts"}
        routes.append(Route(notifier, frozenset(kinds), "notifications"))
    sink_context = SinkContext(mode, out_dir, console)
    for number, sink_config in enumerate(config.sinks):
        try:
            sink = sink_plugin(sink_config.type).build(sink_config, sink_context)
        except SinkBuildError as exc:
            raise JobError(str(exc)) from exc
        routes.append(Route(sink, frozenset(sink_config.outputs), f"sinks[{number}]"))
    kpis = KpiCollector()
    routes.append(Route(kpis, frozenset({"kpis"}), "report"))
    if report_path is None and config.report_path is not None:
        report_path = _place(config.report_path, out_dir)
    charts = None
    if report_path is not None and report_path.suffix.lower() in CHART_REPORT_SUFFIXES:
        charts = collector_for(config)
        routes.append(Route(charts, frozenset({"points", "alerts", "kpis", "records"}), "report"))
    series = SeriesCollector() if report_path is not None else None
    if series is not None:
        routes.append(Route(series, frozenset({"records"}), "root cause"))
    autocorrelation = AutocorrelationWatch(config) if report_path is not None else None
    if autocorrelation is not None and autocorrelation.streams:
        routes.append(Route(autocorrelation, frozenset({"records"}), "autocorrelation"))
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
    if limits is not None:
        try:
            engine.on_new_stream = limits_seeder(limits[0], limits[1], config)
        except LimitsFileError as exc:
            raise JobError(str(exc)) from None
        if charts is not None:  # seeded streams have no phase-I points to shade
            charts.phase1.update(dict.fromkeys(limits[1], 0))
    if notifier is not None:
        # Alert.emitted_at (processing time) when the job notifies; without notifications
        # the outputs stay byte for byte the same across a resume or a second replay.
        engine.alerts.clock = _wall_clock
    resume = checkpoint.source if checkpoint else None
    kafka_input = from_kafka(config, input_path, source)
    try:
        source = build_source(config, input_path, resume, source, mode)
        identity = input_identity(config, source)
    except OSError as exc:
        raise JobError(f"cannot open the input: {exc}") from exc
    except UnsupportedFormat as exc:
        raise JobError(str(exc)) from exc
    forwarder = None
    if kafka_input and engine.models.has_predictors:  # a line stage: pipeline/repartition.py
        source, forwarder = two_stage_source(config, engine, source, resume, mode)
        routes.append(Route(forwarder, frozenset(), "line stage"))
    if checkpoint is not None:
        assert store is not None
        _check_resume(checkpoint, identity, store, routes, dead_letters)
    elif reset_state:
        _truncate_sinks([*(r.sink for r in routes), dead_letters], None)
    runner = Runner(
        engine,
        source,
        routes,
        dead_letters,
        state_store=store,
        checkpoint_every_records=config.checkpoint.every_records,
        checkpoint_every_seconds=config.checkpoint.every_seconds,
        max_failures=config.quarantine.max_failures,
        failure_window_records=config.quarantine.window_records,
        input_identity=identity,
    )
    if forwarder is not None:
        from linewatch.pipeline.repartition import TwoStageSource

        assert isinstance(source, TwoStageSource)
        runner.forward = forwarder.on_record
        source.stage.bind(runner.emit, runner.flush_sinks)
    if columnar and mode == "replay" and _parquet_from_start(source):
        assert isinstance(source, FileSource)
        runner.columnar = ColumnarReplay(source)
    if columnar:
        runner.poll_lane = PollLane()
    if checkpoint is not None:
        assert store is not None
        try:
            runner.restore(checkpoint)
        except Exception as exc:  # a forged or foreign state: never a traceback
            raise JobError(
                f"{store.path}: engine state is not valid ({type(exc).__name__}: {exc}); "
                f"{RESET_HINT}"
            ) from None
    elif store is not None and mode == "run" and identity["kind"] != "kafka":
        runner.save_state()  # a crash before the first checkpoint resumes from here
    return Job(
        config,
        engine,
        source,
        runner,
        kpis,
        report_path,
        list(faults),
        checkpoint.source if checkpoint else None,
        charts,
        series=series,
        autocorrelation=autocorrelation,
        notifier=notifier,
    )


def _parquet_from_start(source: Source) -> bool:
    return (
        isinstance(source, FileSource)
        and source.file_format == "parquet"
        and source.start_after == 0
    )


def _check_resume(
    checkpoint: Checkpoint,
    identity: dict[str, Any],
    store: LocalStateStore,
    routes: Sequence[Route],
    dead_letters: Sink,
) -> None:
    """Refuse a checkpoint saved for another input; cut the JSONL sinks back to it."""
    problem = _identity_problem(checkpoint.input, identity)
    if problem is None:
        records = checkpoint.source.get("records", 0)
        bound = _records_bound(identity)
        if bound is not None and records > bound:
            problem = f"source.records {records} is more than {identity['path']} can hold"
    if problem is not None:
        raise JobError(f"{store.path}: {problem}; {RESET_HINT} (or give the original input)")
    _truncate_sinks([*(r.sink for r in routes), dead_letters], checkpoint.sinks)


def _truncate_sinks(sinks: Sequence[Sink], lengths: dict[str, int] | None) -> None:
    """Cut file sinks back to ``lengths`` (``None``: empty them)."""
    for sink in sinks:
        if isinstance(sink, JsonlSink | CsvScoresSink):
            length = 0 if lengths is None else lengths.get(str(sink.path))
            if length is not None and sink.durable_length() > length:
                sink.truncate(length)


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
