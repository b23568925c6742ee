"""``linewatch analyze``: batch SPC analysis of a CSV file.

Input, one observation (subgroup) per row, as the chart's registry entry says it takes:

* one value per row (imr); a subgroup's values, blank cells for missing members (xbar-r,
  xbar-s); either (cusum, ewma, capability);
* named counts, a header naming them (p, np, u, laney-p, laney-u: ``count,size``; c: ``count``);
* a header naming the parameters, one vector per row (t2); columns ``part,value`` (zmr).

The ``--chart`` choices and the chart-specific flags come from the chart registry.
A first row that is not numeric is taken as a header (required for the named layouts).
Bad input is reported as ``FILE:LINE: column N: problem`` and exit status 2.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path
from typing import Any

from linewatch.detectors.registry import ChartOption, chart_info, chart_names, charts
from linewatch.detectors.spc.analyze import AnalysisInputError, AnalysisResult, analyze

__all__ = ["CsvInputError", "add_parser", "chart_options", "read_observations", "run"]


class CsvInputError(ValueError):
    """A problem in the input file, located by line and column."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the ``analyze`` subcommand."""
    parser = subparsers.add_parser(
        "analyze", help="SPC analysis of a CSV file", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--chart", required=True, choices=chart_names())
    parser.add_argument("--input", required=True, type=Path, metavar="FILE.csv")
    parser.add_argument(
        "--phase1",
        type=int,
        metavar="N",
        help="leading observations that estimate the limits (default: all)",
    )
    parser.add_argument(
        "--sigma",
        metavar="METHOD",
        help="mr, median_mr, rbar, sbar, pooled, overall (zmr: by_part, pooled)",
    )
    parser.add_argument(
        "--rules",
        default=None,
        help="nelson, we, none, or tests like 1,2,5,6;2=8 (default: test 1)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--k-sigma", type=float, default=3.0, help="limit width in sigmas")
    parser.add_argument(
        "--passes",
        type=int,
        default=0,
        help="drop phase-I points beyond the limits and re-estimate, N times",
    )
    parser.add_argument("--center", type=float, help="known center (with --known-sigma)")
    parser.add_argument("--known-sigma", type=float, help="known process sigma")
    parser.add_argument("--constants", choices=("table", "exact"), default="table")
    for option, users in chart_options().items():
        kind: dict[str, Any] = (
            {"action": "store_true", "default": None}
            if isinstance(option.default, bool)
            else {"type": float}
        )
        parser.add_argument(
            option.cli_flag, dest=option.name, help=f"{option.help} ({', '.join(users)})", **kind
        )
    parser.set_defaults(func=run)


def chart_options() -> dict[ChartOption, list[str]]:
    """Every chart-specific option (the first registration of a name) and its charts."""
    found: dict[str, tuple[ChartOption, list[str]]] = {}
    for info in charts():
        for option in info.options:
            found.setdefault(option.name, (option, []))[1].append(info.name)
    return dict(found.values())


def _number(text: str, path: Path, line: int, column: int) -> float:
    try:
        value = float(text)
    except ValueError:
        raise CsvInputError(f"{path}:{line}: column {column}: not a number: {text!r}") from None
    if not math.isfinite(value):
        raise CsvInputError(f"{path}:{line}: column {column}: not finite: {text!r}")
    return value


def _is_header(row: list[str]) -> bool:
    for cell in row:
        try:
            float(cell)
        except ValueError:
            if cell.strip():
                return True
    return False


def read_observations(path: Path, chart: str) -> tuple[list[Any], list[int], list[str]]:
    """Observations, the file line of each, and the header (empty if none)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CsvInputError(f"{path}: cannot read: {exc.strerror}") from None
    rows = list(csv.reader(text.splitlines()))
    header: list[str] = []
    numbered = [(i + 1, r) for i, r in enumerate(rows) if any(c.strip() for c in r)]
    if numbered and _is_header(numbered[0][1]):
        header = [c.strip() for c in numbered[0][1]]
        numbered = numbered[1:]
    info = chart_info(chart)
    needed = info.columns
    if (needed or info.takes == "vector") and not header:
        wanted = ",".join(needed) if needed else "the parameter names"
        raise CsvInputError(f"{path}:1: a header naming {wanted} is required for --chart {chart}")
    if needed:
        missing = [n for n in needed if n not in header]
        if missing:
            raise CsvInputError(f"{path}:1: header lacks column(s) {', '.join(missing)}")
    observations: list[Any] = []
    lines: list[int] = []
    for line, row in numbered:
        cells = [c.strip() for c in row]
        if needed:
            obs: dict[str, Any] = {}
            for name in needed:
                column = header.index(name) + 1
                cell = cells[column - 1] if column <= len(cells) else ""
                if not cell:
                    raise CsvInputError(f"{path}:{line}: column {column}: '{name}' is empty")
                obs[name] = cell if name == "part" else _number(cell, path, line, column)
            observations.append(obs)
        elif info.takes == "vector":
            vector = {}
            for column, name in enumerate(header, start=1):
                cell = cells[column - 1] if column <= len(cells) else ""
                if not cell:
                    raise CsvInputError(f"{path}:{line}: column {column}: '{name}' is empty")
                vector[name] = _number(cell, path, line, column)
            observations.append(vector)
        else:
            values = [_number(c, path, line, col) for col, c in enumerate(cells, start=1) if c]
            takes = "values" if info.kind == "capability" else info.takes  # batch: either
            if takes == "value":
                if len(values) != 1:
                    raise CsvInputError(
                        f"{path}:{line}: --chart {chart} takes one value per row, got {len(values)}"
                    )
                observations.append(values[0])
            else:
                observations.append(
                    values if len(values) != 1 or takes == "subgroup" else values[0]
                )
        lines.append(line)
    if not observations:
        raise CsvInputError(f"{path}: no observations")
    return observations, lines, header


def run(args: argparse.Namespace) -> int:
    """Run the analysis the parsed ``args`` describe; 0 on success, 2 on bad input."""
    try:
        data, lines, header = read_observations(args.input, args.chart)
        options: dict[str, Any] = {
            "k_sigma": args.k_sigma,
            "passes": args.passes,
            "constants": args.constants,
        }
        for name in ["center", "known_sigma", *(o.name for o in chart_info(args.chart).options)]:
            if getattr(args, name, None) is not None:
                options[name] = getattr(args, name)
        if chart_info(args.chart).takes == "vector":
            options["names"] = header
        result = analyze(
            args.chart, data, phase1=args.phase1, sigma=args.sigma, rules=args.rules, **options
        )
    except CsvInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except AnalysisInputError as exc:
        print(f"error: {args.input}:{lines[exc.index]}: {exc.reason}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ArithmeticError as exc:  # a last guard: the charts refuse what would overflow
        print(f"error: {args.input}: numbers out of range: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        _print_table(result)
    return 0


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def _print_table(result: AnalysisResult) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if result.capability is not None:
        table = Table(title=f"capability (n = {result.capability.n})")
        for column in ("index", "value", "lower", "upper"):
            table.add_column(column)
        for name, index in result.capability.indices.items():
            table.add_row(name, _fmt(index.value), _fmt(index.lower), _fmt(index.upper))
        console.print(table)
        return
    params = ", ".join(
        f"{k} = {_fmt(v) if isinstance(v, float) else v}" for k, v in result.params.items()
    )
    console.print(f"{result.chart}: {result.n} observations, phase I = {result.phase1}; {params}")
    if result.excluded:
        console.print(f"excluded from phase I: {result.excluded}")
    for name, series in result.charts.items():
        flagged: dict[int, list[str]] = {}
        for rule, indices in series.violations.items():
            for i in indices:
                flagged.setdefault(i, []).append(rule)
        table = Table(title=name)
        for column in ("index", "value", "center", "lcl", "ucl", "rules"):
            table.add_column(column)
        for i, value, center, lcl, ucl in zip(
            series.index, series.value, series.center, series.lcl, series.ucl, strict=True
        ):
            table.add_row(
                str(i),
                _fmt(value),
                _fmt(center),
                _fmt(lcl),
                _fmt(ucl),
                " ".join(flagged.get(i, [])),
            )
        console.print(table)
