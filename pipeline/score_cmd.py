"""``linewatch score``: stream lines ``timestamp,value[,value...]`` in, one score a line out.

The timestamp is ISO 8601 or ``YYYY-MM-DD HH:MM:SS`` (a naive one is taken as UTC); no
header; one or more numeric columns, as many on every line as on the first good one. Each
score in [0, 1] is written on its own line and flushed at once, so the command can sit in
a pipe. A bad line (unparsable timestamp, non-numeric or non-finite value, wrong column
count, timestamp earlier than the previous one) gets ``error: line N: ...`` on stderr and
the score line ``nan``, so the output keeps one line per input line; nothing is learned
from it and the exit status is then 1 (0 when every line was good, 2 for bad options).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import IO

from linewatch.detectors import DetectorInputError, make
from linewatch.detectors.ml.scorer import SCORER_NAMES, Scorer

__all__ = ["LineError", "add_parser", "cmd_score", "main", "parse_line", "score_stream"]


class LineError(ValueError):
    """A line that cannot be scored; the message says why."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the ``score`` subcommand."""
    parser = subparsers.add_parser(
        "score", help="score a series from stdin", description=__doc__.split("\n\n")[0]
    )
    _add_arguments(parser)
    parser.set_defaults(func=cmd_score)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--detector", default="default", choices=SCORER_NAMES)
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="K=V",
        help="detector parameter (repeatable), e.g. --param warmup=100 --param lam=0.2",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of any randomness")


def _value(text: str) -> object:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return text


def _params(pairs: Sequence[str]) -> dict[str, object]:
    params: dict[str, object] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--param {pair!r}: expected K=V")
        params[key.strip()] = _value(text.strip())
    return params


def parse_line(text: str) -> tuple[datetime, list[float]]:
    """Timestamp and values of one input line; :class:`LineError` says what is wrong.

    >>> parse_line("2026-01-01 08:00:00,1.5,2")
    (datetime.datetime(2026, 1, 1, 8, 0, tzinfo=datetime.timezone.utc), [1.5, 2.0])
    """
    cells = [c.strip() for c in text.strip().split(",")]
    if len(cells) < 2:
        raise LineError("expected timestamp,value[,value...]")
    try:
        ts = datetime.fromisoformat(cells[0].replace("Z", "+00:00"))
    except ValueError:
        raise LineError(f"not a timestamp: {cells[0]!r}") from None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    values = []
    for column, cell in enumerate(cells[1:], start=2):
        try:
            value = float(cell)
        except ValueError:
            raise LineError(f"column {column}: not a number: {cell!r}") from None
        if not math.isfinite(value):
            raise LineError(f"column {column}: not finite: {cell!r}")
        values.append(value)
    return ts, values


def score_stream(scorer: Scorer, lines: IO[str], out: IO[str], err: IO[str]) -> int:
    """Score every line of ``lines`` onto ``out``; the number of bad lines."""
    bad = 0
    columns: int | None = None
    last: datetime | None = None
    for number, text in enumerate(lines, start=1):
        try:
            ts, values = parse_line(text)
            if columns is not None and len(values) != columns:
                raise LineError(f"expected {columns} value(s) like line 1, got {len(values)}")
            if last is not None and ts < last:
                raise LineError(f"timestamp {ts.isoformat()} is earlier than the line before")
            score = scorer.update(ts, values if len(values) > 1 else values[0])
        except (LineError, DetectorInputError) as exc:
            bad += 1
            err.write(f"error: line {number}: {exc}\n")
            err.flush()
            out.write("nan\n")
            out.flush()
            continue
        columns = len(values)
        last = ts
        out.write(f"{score:.6g}\n")
        out.flush()
    return bad


def cmd_score(args: argparse.Namespace) -> int:
    """Run the scorer the parsed ``args`` describe over stdin."""
    try:
        scorer = make(args.detector, seed=args.seed, **_params(args.param))
    except (TypeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 1 if score_stream(scorer, sys.stdin, sys.stdout, sys.stderr) else 0


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point without the rest of the CLI (``python -c 'from ... import main; main()'``)."""
    parser = argparse.ArgumentParser(prog="linewatch score", description=__doc__.split("\n\n")[0])
    _add_arguments(parser)
    raise SystemExit(cmd_score(parser.parse_args(argv)))
