"""The ``linewatch`` command line: run, replay, simulate, check-config.

Exit codes: 0 done, 1 the job failed (an ``error:`` line says why), 2 bad usage or a bad
config, 130 interrupted (SIGINT/SIGTERM, after a clean checkpoint), 141 the reader of
stdout went away (``linewatch analyze --json ... | head -1``; 128 + SIGPIPE, as a shell
reports a GNU tool killed by SIGPIPE). A failure is never a traceback: an unexpected
exception prints ``error: internal error: ...`` and the traceback only with ``-v``.
"""

# ruff: noqa: E402
from __future__ import annotations

import signal

# Run as ``python -m``: a SIGINT/SIGTERM during the imports below still ends in a clean stop.
_EARLY_STOPS: list[int] = []
if __name__ == "__main__":
    for _signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(_signum, lambda signum, _frame: _EARLY_STOPS.append(signum))

import argparse
import json
import logging
import math
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from linewatch import __version__
from linewatch.pipeline import (
    analyze_cmd,
    dashboards_cmd,
    limits_cmd,
    score_cmd,
    serve_cmd,
    simulate_cmd,
)
from linewatch.pipeline.argtypes import aware_time
from linewatch.pipeline.cli_common import UsageError, err, out
from linewatch.pipeline.cli_common import error_line as _error
from linewatch.pipeline.cli_common import load_checked as _load
from linewatch.pipeline.cli_common import progress_bar as _progress
from linewatch.pipeline.config import (
    Config,
    ConfigError,
    CsvScoresSinkConfig,
    FileSourceConfig,
    JsonlDeadLetterConfig,
    JsonlSinkConfig,
)
from linewatch.pipeline.job import Job, JobError, StopLatch, build_job
from linewatch.pipeline.job_sources import influx_source, kafka_replay_source
from linewatch.pipeline.logs import LOG_FORMATS, configure_logging
from linewatch.pipeline.replay_source import ReplaySource
from linewatch.pipeline.report import FaultWindow
from linewatch.pipeline.runner import RunSummary

if TYPE_CHECKING:
    from linewatch.pipeline.metrics_http import MetricsServer

log = logging.getLogger("linewatch.run")

__all__ = ["main"]

T = TypeVar("T")
#: Exit status when stdout is a closed pipe: 128 + SIGPIPE, like a GNU tool.
EXIT_BROKEN_PIPE = 141


def _event_time(source: object) -> str:
    at = getattr(source, "event_time", None)
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if isinstance(at, datetime) else ""


def _install_stop_handlers(stop: Callable[[], None]) -> None:
    """SIGINT/SIGTERM finish the batch, flush, checkpoint and commit, then exit."""

    def handler(signum: int, _frame: Any) -> None:
        err.print(f"[yellow]{signal.Signals(signum).name}: stopping after this batch…")
        stop()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    if _EARLY_STOPS:
        handler(_EARLY_STOPS.pop(), None)


# -- check-config ------------------------------------------------------------------------


def cmd_check_config(args: argparse.Namespace) -> int:
    config = _load(args.config)
    from linewatch.pipeline.alerts import AlertManager
    from linewatch.pipeline.modelling import ModelRuntime

    ModelRuntime(config, AlertManager(config.alerting))  # the models' references, with paths
    streams = sum(
        len(s.characteristics) + len(s.parameters) for line in config.lines for s in line.stations
    )
    stations = sum(len(line.stations) for line in config.lines)
    out.print(
        f"OK: {args.config}: {len(config.lines)} line(s), {stations} station(s), "
        f"{streams} charted stream(s)"
    )
    from linewatch.pipeline.budget_cmd import print_budget
    from linewatch.pipeline.rare_advice import config_warnings

    code = print_budget(config, args, out.print, err.print)
    for warning in config_warnings(config):  # np/c charts of events too rare for 3 sigma
        out.print(f"warning: {warning}", markup=False)
    return code


# -- run and replay ----------------------------------------------------------------------


def _print_summary(summary: RunSummary, job: Job) -> None:
    err.print(
        f"{summary.records_read} records read, {summary.records_processed} processed, "
        f"{summary.dead_letters} dead letters, "
        f"{sum(1 for a in summary.alerts if a.status == 'firing')} alerts fired, "
        f"{summary.checkpoints} checkpoints, {summary.seconds:.1f} s"
    )
    outside = getattr(job.source, "outside_window", 0)
    if outside:
        err.print(f"{outside} records outside --start/--stop skipped")
    if job.report_path is not None:
        err.print(f"report: {job.report_path}")


def _execute(job: Job, show_progress: bool, description: str) -> int:
    _install_stop_handlers(job.runner.request_stop)
    progress_of = getattr(job.source, "progress", None)
    with _progress(show_progress and progress_of is not None, records=True) as progress:
        task = progress.add_task(
            description,
            total=progress_of()[1] if progress_of else None,
            records=0,
            event_time="",
        )

        def on_batch(summary: RunSummary) -> None:
            if progress_of is not None:
                done, total = progress_of()
                progress.update(
                    task,
                    completed=done,
                    total=total,
                    records=summary.records_read,
                    event_time=_event_time(job.source),
                )

        if show_progress and progress_of is not None:
            job.runner.on_batch = on_batch
        summary = job.run()
    job.finish()
    _print_summary(summary, job)
    if job.damage is not None:
        # Outputs and report are written; the run is still a failure, said in one line.
        err.print(
            f"error: {job.damage} ({summary.records_read} records before it were read)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return 1
    return 130 if summary.stopped_by_request else 0


def cmd_run(args: argparse.Namespace) -> int:
    stop = StopLatch()  # a stop while the checkpoint loads waits for the runner
    _install_stop_handlers(stop.request)
    config = _load(args.config)
    job = build_job(
        config,
        mode="run",
        input_path=args.input,
        state_dir=args.state_dir,
        reset_state=args.reset_state,
        limits=limits_cmd.job_seeds(config, args.limits, None),
        columnar=not args.per_record,
    )
    stop.attach(job.runner.request_stop)
    if job.resumed_from is not None:
        err.print(f"resuming from checkpoint: {job.resumed_from}")
    server = _metrics_server(args, config, job)
    try:
        code = _execute(job, show_progress=False, description="run")
    finally:
        if server is not None:
            server.metrics.stop()
            server.close()
    summary = job.runner.summary
    log.info(
        "run ended",
        extra={
            "exit_code": code,
            "records_read": summary.records_read,
            "dead_letters": summary.dead_letters,
            "alert_messages": len(summary.alerts),
            "checkpoints": summary.checkpoints,
            "seconds": round(summary.seconds, 3),
        },
    )
    return code


def _metrics_server(args: argparse.Namespace, config: Config, job: Job) -> MetricsServer | None:
    """``--metrics-port`` or the config's ``metrics``: serve /metrics and /healthz."""
    settings = config.metrics
    port = args.metrics_port if args.metrics_port is not None else getattr(settings, "port", None)
    if port is None:
        return None
    from linewatch.pipeline.metrics_http import start_metrics

    try:
        server = start_metrics(
            job.runner,
            host=settings.host if settings is not None else "127.0.0.1",
            port=port,
            stale_after_s=settings.stale_after_s if settings is not None else 60.0,
        )
    except (ImportError, OSError) as exc:
        job.runner.close()
        raise JobError(str(exc)) from None
    err.print(f"metrics: {server.url}/metrics", markup=False, highlight=False, soft_wrap=True)
    return server


def _faults(path: Path | None) -> list[FaultWindow]:
    if path is None:
        return []
    try:
        return [FaultWindow.from_dict(item) for item in json.loads(path.read_text())]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise JobError(f"{path}: cannot read known faults: {exc}") from exc


def _clear_previous_outputs(config: Config, out_dir: Path, report: Path) -> None:
    """Delete what an earlier replay into ``out_dir`` left: its report, sinks, dead letters.

    Done before anything else, so a replay that fails never leaves the last run's report
    looking like its own. Only the files this config writes are touched (relative sink
    paths land in ``out_dir`` under their file name, as the job places them).
    """
    paths = [report]
    sinks = [s.path for s in config.sinks if isinstance(s, JsonlSinkConfig | CsvScoresSinkConfig)]
    if isinstance(config.dead_letters, JsonlDeadLetterConfig):
        sinks.append(config.dead_letters.path)
    paths += [path if path.is_absolute() else out_dir / path.name for path in sinks]
    for path in paths:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise JobError(f"cannot clear the previous output {path}: {exc}") from exc


def _replay_source_rules(args: argparse.Namespace, config: Config) -> None:
    """``--start``/``--stop`` only where a source can honour them; never ignored."""
    window = args.start is not None or args.stop is not None
    if args.start is not None and args.stop is not None and args.stop <= args.start:
        raise UsageError("--stop must be after --start")
    if args.from_url is not None:
        if args.input is not None:
            raise UsageError("give --input or --from, not both")
        if args.start is None or args.stop is None:
            raise UsageError("--from influx://... or kafka://... needs --start and --stop")
        return
    if window and args.input is None and not isinstance(config.source, FileSourceConfig):
        kind = "none" if config.source is None else config.source.type
        raise UsageError(
            f"--start and --stop select a time window of a file (--input or a file "
            f"source) or of --from influx://... or kafka://...; the config's source is {kind}"
        )


def cmd_replay(args: argparse.Namespace) -> int:
    config = _load(args.config)
    _replay_source_rules(args, config)
    out_dir: Path = args.out
    report = args.report or out_dir / "report.md"
    if args.scores is not None:  # a sink like the configured ones, routed by kind
        scores = CsvScoresSinkConfig(type="csv_scores", path=args.scores.absolute())
        config = config.model_copy(update={"sinks": [*config.sinks, scores]})
    _clear_previous_outputs(config, out_dir, report)
    source = None
    if args.from_url is not None:
        history = kafka_replay_source if args.from_url.startswith("kafka://") else influx_source
        source = history(args.from_url, args.start, args.stop)
    job = build_job(
        config,
        mode="replay",
        input_path=args.input,
        out_dir=out_dir,
        state_dir=None,
        report_path=report,
        faults=_faults(args.truth),
        source=source,
        notify=args.notify,
        notify_event_clock=args.notify_clock == "event",
        limits=limits_cmd.job_seeds(config, args.limits, args.limits_at),
        columnar=not args.per_record,
    )
    # the window of a file is filtered here; InfluxDB's was applied by its query
    start, stop = (None, None) if source is not None else (args.start, args.stop)
    job.source = job.runner.source = ReplaySource(job.source, start, stop, args.speed)
    if args.export_charts is not None:  # html: charts export
        if job.charts is None:
            raise UsageError("--export-charts needs --report ending in .html or .pdf")
        job.chart_export_dir = args.export_charts
    return _execute(job, show_progress=not args.no_progress, description="replay")


# -- simulate ----------------------------------------------------------------------------


# -- parser ------------------------------------------------------------------------------


def _port(text: str) -> int:
    """A TCP port, 0 (any free one) to 65535."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65_535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0 to 65535)")
    return port


def _speed(text: str) -> float | None:
    if text == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number or 'max'")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="linewatch",
        description="Statistical process control and anomaly detection for manufacturing lines.",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log debug messages; tracebacks of bugs"
    )
    parser.add_argument("--version", action="version", version=f"linewatch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = sub.add_parser(
        "check-config",
        help="validate a config file and print OK or errors",
        description="Validate a YAML config. Prints OK, or every bad key "
        "with its YAML path and file line, and exits 2.",
    )
    check.add_argument("config", type=Path, help="the YAML config file")
    check.add_argument(
        "--rate",
        type=float,
        help="observations an hour of every stream, for the false-alarm budget "
        "(default: the config's simulation section)",
    )
    check.add_argument(
        "--history",
        type=Path,
        help="a recorded history file: each stream's rate, and its phase I's autocorrelation",
    )
    check.set_defaults(func=cmd_check_config)

    run = sub.add_parser(
        "run",
        help="run the job on the configured source, with checkpoints",
        description="Run the detectors on the config's source until it is exhausted or the "
        "process gets SIGINT/SIGTERM (then it flushes, checkpoints and commits before exiting). "
        "With a state dir, a later run resumes from the last checkpoint.",
    )
    run.add_argument("--config", type=Path, required=True, help="the YAML config file")
    run.add_argument("--input", type=Path, help="read this file instead of the config's source")
    run.add_argument(
        "--state-dir",
        type=Path,
        help="where checkpoints live (default: checkpoint.state_dir of the config)",
    )
    run.add_argument(
        "--reset-state",
        action="store_true",
        help="forget the saved checkpoint and start from the first record "
        "(the JSONL outputs start afresh too)",
    )
    run.add_argument(
        "--metrics-port",
        type=_port,
        metavar="PORT",
        help="serve Prometheus /metrics and /healthz on this port (0: any free port; "
        "default: the config's metrics.port, or none)",
    )
    run.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default="text",
        help="text (default) or json: one JSON object per line (ts, level, logger, "
        "message, fields), INFO and up",
    )
    run.add_argument(
        "--limits", type=Path, help="an approved limits file (default: the config's `limits:`)"
    )
    run.add_argument(
        "--per-record",
        action="store_true",
        help="process every record alone (default: a poll batch's I-MR measurements and "
        "parameters go through the columnar lane, with the same outputs)",
    )
    run.set_defaults(func=cmd_run)

    replay = sub.add_parser(
        "replay",
        help="replay history through fresh detectors and write a diagnosis report",
        description="Replay a recorded line (JSONL, CSV or Parquet, optionally .gz) through the "
        "config's detectors from a fresh state. Writes the configured sinks under --out, the "
        "dead letters, and a Markdown diagnosis report; prints the alerts.",
    )
    replay.add_argument("--config", type=Path, required=True, help="the YAML config file")
    replay.add_argument(
        "--input", type=Path, help="the recorded line (default: the config's file source)"
    )
    replay.add_argument(
        "--from",
        dest="from_url",
        metavar="URL",
        help="read the history from InfluxDB or Kafka instead of a file "
        "(influx://[user:pass@]host:port/db[?rp=..&api=v1|v2&token=..], or "
        "kafka://host:port/topic[,topic2][?transport=kafka-python]: by Kafka record "
        "timestamp, outside any consumer group, never committing)",
    )
    replay.add_argument(
        "--start",
        type=aware_time,
        help="first event time (ISO 8601 with zone); a file's records before it are "
        "skipped and counted, not dead-lettered (required with --from)",
    )
    replay.add_argument(
        "--stop", type=aware_time, help="end event time, exclusive (required with --from)"
    )
    replay.add_argument(
        "--speed",
        type=_speed,
        default=None,
        metavar="N|max",
        help="replay at N times real time (60: an hour of history a minute); "
        "default max: as fast as it goes",
    )
    replay.add_argument(
        "--scores",
        type=Path,
        metavar="OUT.csv",
        help="write every chart point (statistic, CL, UCL, LCL, zone, violations, limits "
        "version) and model score as a CSV row",
    )
    replay.add_argument(
        "--out",
        type=Path,
        default=Path("out/replay"),
        help="folder for relative sink paths and the report (default out/replay); the "
        "report, sink files and dead letters an earlier replay left there are deleted first",
    )
    replay.add_argument(
        "--report",
        type=Path,
        help="report path (default OUT/report.md); .html: one self-contained file with "
        "charts, .pdf: the same printed",
    )
    replay.add_argument(
        "--export-charts",
        type=Path,
        metavar="DIR",
        help="with --report *.html or *.pdf: also write each chart as SVG and PNG into DIR",
    )
    replay.add_argument(
        "--truth", type=Path, help="known faults (JSON from `simulate`) to score detection against"
    )
    replay.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    replay.add_argument(
        "--per-record",
        action="store_true",
        help="process every record alone (default: the I-MR measurements and parameters "
        "of a Parquet file or a batch go through the columnar lane, with the same outputs)",
    )
    replay.add_argument(
        "--notify",
        action="store_true",
        help="send the config's notifications (a replay sends none by default)",
    )
    replay.add_argument(
        "--notify-clock",
        choices=["wall", "event"],
        default="wall",
        help="with --notify: time notifications by the wall clock, or as the live line "
        "would have (the newest event time)",
    )
    replay.add_argument(
        "--limits", type=Path, help="an approved limits file (default: the config's `limits:`)"
    )
    replay.add_argument(
        "--limits-at",
        type=aware_time,
        metavar="T",
        help="chart with the limits version in effect at T (default: now)",
    )
    replay.set_defaults(func=cmd_replay)

    simulate_cmd.add_parser(sub)
    dashboards_cmd.add_parser(sub)
    analyze_cmd.add_parser(sub)
    score_cmd.add_parser(sub)
    limits_cmd.add_parser(sub)
    serve_cmd.add_parser(sub)  # serve and silence
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(getattr(args, "log_format", "text"), args.verbose)
    handler: Callable[[argparse.Namespace], int] = args.func
    try:
        return handler(args)
    except ConfigError as exc:
        count = len(exc.problems)
        _error(f"invalid configuration ({count} problem{'s' if count != 1 else ''}):")
        sys.stderr.write("".join(f"  {problem}\n" for problem in exc.problems))
        return 2
    except UsageError as exc:
        _error(str(exc))
        return 2
    except JobError as exc:
        _error(str(exc))
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return _stdout_gone()
    except OSError as exc:
        # a file the user named: missing, unreadable, a full disk
        where = f"{exc.filename}: " if exc.filename else ""
        _error(f"{where}{exc.strerror or exc}")
        return 1
    except Exception as exc:
        # the last resort: a bug, still one line; the traceback only when asked for
        if args.verbose:
            traceback.print_exc()
        _error(f"internal error: {type(exc).__name__}: {exc} (run with -v for the traceback)")
        return 1


def _stdout_gone() -> int:
    """The reader of stdout left (``| head``): stop quietly, as GNU tools do.

    Python would flush stdout again at exit and print a second BrokenPipeError, so
    stdout is pointed at /dev/null first.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass  # stdout is not a real file (a test's capture): nothing left to flush
    finally:
        os.close(devnull)
    return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
