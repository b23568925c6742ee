"""``linewatch limits``: estimate phase-I limits from history, approve them, load them for a job.

``limits estimate --config F --input HISTORY --out limits.yaml [--review review.html]``
appends a new version to the limits file (creating it), ``limits approve FILE --by NAME
[--effective-from T]`` seals the newest version, and ``run``/``replay`` with ``--limits
FILE`` (or the config's ``limits:``) chart against the approved version in effect (at
``--limits-at T`` for a replay). A bad file is one ``error:`` line naming file and field.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from linewatch.connectors.files import FileSource
from linewatch.pipeline.argtypes import aware_time
from linewatch.pipeline.config import Config, FileSourceConfig, load_config
from linewatch.pipeline.job import JobError
from linewatch.pipeline.limits_estimate import Estimate, estimate_limits
from linewatch.pipeline.limits_file import LimitsFile, LimitsFileError, StreamLimits, stream_key
from linewatch.pipeline.models import RawRecord

__all__ = ["add_parser", "cmd_approve", "cmd_estimate", "job_seeds"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``limits estimate`` and ``limits approve``."""
    limits = subparsers.add_parser(
        "limits",
        help="estimate phase-I limits from history and approve them",
        description=__doc__.split("\n\n")[0],
    )
    sub = limits.add_subparsers(dest="limits_command", required=True, metavar="ACTION")
    est = sub.add_parser(
        "estimate",
        help="run phase I on history; append a limits version to the file",
        description="Run the config's charts (with their exclusion passes) over history and "
        "append the limits of every stream whose phase I completes as a new, unapproved "
        "version of the limits file. Earlier versions are kept as they are.",
    )
    est.add_argument("--config", type=Path, required=True, help="the YAML config file")
    est.add_argument("--input", type=Path, help="the history (default: the config's file source)")
    est.add_argument("--out", type=Path, required=True, help="the limits file (.yaml or .json)")
    est.add_argument("--review", type=Path, help="write the review page (.html or .pdf) here")
    est.add_argument("--review-charts", type=Path, metavar="DIR", help="each chart as SVG/PNG")
    est.add_argument("--start", type=aware_time, help="first record time of the history to use")
    est.add_argument("--stop", type=aware_time, help="use records before this time")
    est.set_defaults(func=cmd_estimate)
    app = sub.add_parser(
        "approve",
        help="stamp a limits version with its approver and effective time",
        description="Seal the newest version (or --version N) of a limits file with the "
        "approver, the approval time, effective_from and a SHA-256 of its content. A version "
        "is approved once; an edit after approval is refused when the file is read.",
    )
    app.add_argument("file", type=Path, help="the limits file")
    app.add_argument("--by", required=True, help="who approves (name)")
    app.add_argument("--effective-from", type=aware_time, help="when the limits take effect (now)")
    app.add_argument("--version", type=int, help="the version to approve (default: the newest)")
    app.set_defaults(func=cmd_approve)


def _history(config: Config, path: Path | None) -> tuple[Path, FileSource]:
    if path is None:
        if not isinstance(config.source, FileSourceConfig):
            raise JobError("limits estimate needs --input (the config has no file source)")
        path = config.source.path
    return path, FileSource(path)


def _records(source: FileSource) -> Iterator[RawRecord]:
    """Every record of the file, batch by batch (a history need not fit in memory)."""
    while not source.exhausted:
        yield from source.poll(0.0)
    if source.damage is not None:  # a damaged history would give limits of part of it
        raise JobError(f"{source.path}: {source.damage}")


def _summary(estimate: Estimate, out: Path, number: int) -> None:
    write = sys.stdout.write
    write(
        f"{out}: version {number}, {len(estimate.windows)} stream(s) estimated from "
        f"{estimate.records} records ({estimate.refused} refused, "
        f"{estimate.dead_letters} dead letters)\n"
    )
    for key in sorted(estimate.windows):
        entry = estimate.windows[key].entry
        main: dict[str, Any] = next(iter(entry["limits"].values()), {})
        write(
            f"  {stream_key(*key)}: {entry['chart']} n={entry['n']} "
            f"excluded={len(entry['excluded'])} center={main.get('center')!r} "
            f"lcl={main.get('lcl')!r} ucl={main.get('ucl')!r}\n"
        )
    for key, (got, need) in sorted(estimate.incomplete.items()):
        write(f"  {stream_key(*key)}: no limits, in phase I: {got} of {need} needed\n")


def cmd_estimate(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    try:
        limits = LimitsFile.load(args.out) if args.out.exists() else LimitsFile(args.out)
    except LimitsFileError as exc:
        raise JobError(str(exc)) from None
    path, source = _history(config, args.input)
    estimate = estimate_limits(config, _records(source), args.start, args.stop)
    if not estimate.windows:
        raise JobError(
            f"{path}: no stream completed phase I; nothing written to {args.out}"
            + "".join(
                f"; {stream_key(*k)} in phase I: {got} of {need} needed"
                for k, (got, need) in sorted(estimate.incomplete.items())[:3]
            )
        )
    made_at = datetime.now(UTC)
    version = limits.add_version(
        estimate.streams(), made_at, config=str(args.config), input=str(path)
    )
    limits.save()
    _summary(estimate, args.out, version["version"])
    if args.review is not None or args.review_charts is not None:
        from linewatch.pipeline.limits_review import build_review
        from linewatch.pipeline.report_export import write_report_file

        review = build_review(
            estimate, f"Phase-I review: {args.out.name} v{version['version']}", made_at
        )
        target = args.review or args.review_charts / "review.html"
        write_report_file(review, target, args.review_charts)
        sys.stdout.write(f"review: {target}\n")
    return 0


def cmd_approve(args: argparse.Namespace) -> int:
    try:
        limits = LimitsFile.load(args.file)
        now = datetime.now(UTC)
        version = limits.approve(args.by, now, args.effective_from or now, args.version)
    except LimitsFileError as exc:
        raise JobError(str(exc)) from None
    limits.save()
    approval = version["approval"]
    sys.stdout.write(
        f"{args.file}: version {version['version']} approved by {approval['by']}, effective "
        f"from {approval['effective_from']} (sha256 {approval['sha256'][:12]}…)\n"
    )
    return 0


def job_seeds(
    config: Config, path: Path | None, at: datetime | None
) -> tuple[Path, dict[tuple[str, str, str], StreamLimits]] | None:
    """The limits a ``run``/``replay`` seeds its charts with: ``--limits`` or the config's."""
    path = path or config.limits
    if path is None:
        if at is not None:
            raise JobError("--limits-at needs a limits file (--limits FILE or `limits:`)")
        return None
    try:
        return path, LimitsFile.load(path).seeds(at)
    except LimitsFileError as exc:
        raise JobError(str(exc)) from None
