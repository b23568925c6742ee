"""``linewatch simulate``: a line with injected faults, into a file or a Kafka topic."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from rich.progress import Progress

from linewatch.pipeline.argtypes import aware_time
from linewatch.pipeline.cli_common import UsageError, err, load_checked, progress_bar
from linewatch.pipeline.job import JobError, simulated_records

__all__ = ["add_parser", "cmd_simulate"]

T = TypeVar("T")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the ``simulate`` subcommand."""
    simulate = sub.add_parser(
        "simulate",
        help="simulate a line with injected faults into a file",
        description="Simulate the config's `simulation` line: equipment parameters, "
        "measurements, inspections and attribute counts with in-control noise and injected "
        "faults. Deterministic for a seed. Writes JSONL/CSV/Parquet (by the --out name) and "
        "the ground truth of the faults as JSON.",
    )
    simulate.add_argument("--config", type=Path, required=True, help="config with `simulation`")
    simulate.add_argument("--minutes", type=float, required=True, help="simulated minutes")
    simulate.add_argument(
        "--fault",
        action="append",
        metavar="SPEC",
        help="inject a fault, e.g. shift:weld-2/nugget_dia_mm@120m+60m*1.5 "
        "(kind:target@start+duration*magnitude; kinds shift, trend, variance, cycle, mixture, "
        "stratification). Repeatable. Default: the config's simulation.faults",
    )
    simulate.add_argument("--seed", type=int, help="random seed (default: the config's)")
    simulate.add_argument("--start", type=aware_time, help="first timestamp, ISO 8601 with zone")
    target = simulate.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--out", type=Path, help="output file: .jsonl, .jsonl.gz, .csv, .csv.gz or .parquet"
    )
    target.add_argument(
        "--to",
        metavar="kafka://HOST:PORT/TOPIC",
        help="produce to a Kafka topic instead, keyed by line/station",
    )
    simulate.add_argument(
        "--truth",
        type=Path,
        help="where to write the injected faults (default OUT-stem.truth.json)",
    )
    simulate.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    simulate.set_defaults(func=cmd_simulate)


def _with_progress(
    records: Iterator[T], progress: Progress, task: Any, start: datetime
) -> Iterator[T]:
    for count, record in enumerate(records):
        if count % 2000 == 0:
            progress.update(task, completed=(record.ts - start).total_seconds() / 60)  # type: ignore[attr-defined]
        yield record


def cmd_simulate(args: argparse.Namespace) -> int:
    from linewatch.connectors.files import UnsupportedFormat, write_records

    config = load_checked(args.config)
    if config.simulation is None:
        raise JobError(f"{args.config}: no 'simulation' section to simulate")
    start = args.start or config.simulation.start
    records, truth = simulated_records(
        config.simulation, args.minutes, faults=args.fault or None, seed=args.seed, start=start
    )
    with progress_bar(not args.no_progress) as progress:
        task = progress.add_task("simulate", total=args.minutes)
        stream = _with_progress(records, progress, task, start)
        if args.to is not None:
            from linewatch.connectors.kafka import produce_records

            count = produce_records(stream, args.to)
            where = args.to
        else:
            try:
                count = write_records(stream, args.out)
            except UnsupportedFormat as exc:
                raise UsageError(str(exc)) from exc
            where = str(args.out)
        progress.update(task, completed=args.minutes)
    truth_path = args.truth
    if truth_path is None and args.out is not None:
        truth_path = args.out.with_name(args.out.name.split(".")[0] + ".truth.json")
    if truth_path is not None:
        truth_path.write_text(json.dumps(truth, indent=2) + "\n")
    err.print(f"{count} records written to {where}; injected faults: {truth_path or truth}")
    return 0
