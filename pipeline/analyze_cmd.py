"""``linewatch analyze``: batch SPC analysis of a CSV file.

Input, one observation (subgroup) per row, as the chart's registry entry says it takes:

* one value per row (imr); a subgroup's values, blank cells for missing members (xbar-r,
  xbar-s); either (cusum, ewma, capability);
* named counts, a header naming them (p, np, u, laney-p, laney-u: ``count,size``; c: ``count``);
* a header naming the parameters, one vector per row (t2); columns ``part,value`` (zmr).

The ``--chart`` choices and the chart-specific flags come from the chart registry.
A first row that is not numeric is taken as a header (required for the named layouts).
Stacked (long) data and a date column are read by column name (``--value-col``,
``--subgroup-col``, ``--subgroup-size``, ``--size-col``, ``--time-col``; see
:mod:`linewatch.pipeline.analyze_input`). Bad input is reported as
``FILE:LINE: column N: problem`` and exit status 2.

The output is a summary like Minitab's session window (points numbered from 1,
:mod:`linewatch.pipeline.analyze_summary`), ``--json`` the full result (0-based indices),
``--plot FILE`` the charts as PNG, SVG or PDF (:mod:`linewatch.pipeline.analyze_plot`).
With ``--lsl``/``--usl`` an imr, xbar-r or xbar-s analysis adds capability.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

from linewatch.detectors.registry import ChartOption, chart_info, chart_names, charts
from linewatch.detectors.spc.analyze import AnalysisInputError, analyze, parse_rules
from linewatch.detectors.spc.rules import RuleSet
from linewatch.pipeline.analyze_capability import CapabilityReport, capability_report
from linewatch.pipeline.analyze_input import CsvInputError, Layout, Table, read_named
from linewatch.pipeline.analyze_input import number_cell as _number
from linewatch.pipeline.analyze_summary import summary

__all__ = [
    "CsvInputError",
    "add_parser",
    "chart_options",
    "read_observations",
    "read_table",
    "run",
]


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
        help="individuals: mr, median_mr, sd, overall; subgroups: uwave-r, uwave-sd, "
        "mvlue-r (rbar), mvlue-sd (sbar), pooled (rmsdf), overall; zmr: by_part, pooled",
    )
    parser.add_argument(
        "--rules",
        default=None,
        help="nelson, we, none, or tests like 1,2,5,6;2=8 (default: test 1)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON (0-based)")
    parser.add_argument(
        "--plot", type=Path, metavar="OUT.png|svg|pdf", help="draw the chart(s) into a file"
    )
    layout = parser.add_argument_group("stacked data and time (columns named by the header)")
    layout.add_argument("--value-col", metavar="NAME", help="measurements (attribute: counts)")
    layout.add_argument("--subgroup-col", metavar="NAME", help="subgroup IDs (zmr: the part)")
    layout.add_argument("--subgroup-size", type=int, metavar="N", help="N consecutive rows")
    layout.add_argument("--size-col", metavar="NAME", help="sample sizes (p, np, u, laney)")
    layout.add_argument("--time-col", metavar="NAME", help="dates or date-times: time order")
    parser.add_argument("--k-sigma", type=float, default=3.0, help="limit width in sigmas")
    parser.add_argument(
        "--passes",
        type=int,
        default=0,
        help="drop phase-I points beyond the limits and re-estimate, N times",
    )
    parser.add_argument("--center", type=float, help="known center (with --known-sigma)")
    parser.add_argument("--known-sigma", type=float, help="known process sigma")
    parser.add_argument(
        "--constants",
        choices=("table", "exact", "qcc"),
        default="table",
        help="d2/d3/c4: the 3-decimal table (default), exact values, or qcc's table",
    )
    parser.add_argument(
        "--convention",
        choices=("minitab", "qcc"),
        default="minitab",
        help="whose defaults: Minitab's (default) or R qcc 2.7's (sigma, R/S centres, "
        "constants, capability intervals; see the README)",
    )
    parser.add_argument(
        "--rules-on-dispersion",
        action="store_true",
        help="apply --rules to the R, S and moving-range charts too (default: test 1 only)",
    )
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


def read_table(args: argparse.Namespace) -> Table:
    """The input as ``args`` lay it out: by named columns, or one subgroup per row."""
    layout = Layout(
        value_col=getattr(args, "value_col", None),
        subgroup_col=getattr(args, "subgroup_col", None),
        size_col=getattr(args, "size_col", None),
        time_col=getattr(args, "time_col", None),
        subgroup_size=getattr(args, "subgroup_size", None),
    )
    if layout.named:
        return read_named(args.input, args.chart, layout)
    observations, lines, header = read_observations(args.input, args.chart)
    return Table(observations, lines, header)


def _capability(args: argparse.Namespace, table: Table) -> CapabilityReport | None:
    lsl, usl = getattr(args, "lsl", None), getattr(args, "usl", None)
    if lsl is None and usl is None:
        return None
    return capability_report(
        args.chart,
        table.observations,
        lsl,
        usl,
        getattr(args, "target", None),
        sigma=args.sigma,
        alpha=getattr(args, "alpha", None) or 0.05,
        known_sigma=args.known_sigma,
        convention=args.convention,
    )


def _of(table: Table, path: Path) -> str:
    """What was charted, for the titles: the column(s), as Minitab names them."""
    if table.value_name:
        return table.value_name
    if "count" in table.header:  # an attribute chart's count,size layout
        return "count"
    header = [h for h in table.header if h]
    if len(header) > 2:
        return f"{header[0]}, ..., {header[-1]}"
    return ", ".join(header) if header else path.stem


def run(args: argparse.Namespace) -> int:
    """Run the analysis the parsed ``args`` describe; 0 on success, 2 on bad input."""
    lines: list[int] = []
    try:
        table = read_table(args)
        lines = table.lines
        options: dict[str, Any] = {
            "k_sigma": args.k_sigma,
            "passes": args.passes,
            "constants": args.constants,
        }
        for name in ["center", "known_sigma", *(o.name for o in chart_info(args.chart).options)]:
            if getattr(args, name, None) is not None:
                options[name] = getattr(args, name)
        if chart_info(args.chart).takes == "vector":
            options["names"] = table.header
        result = analyze(
            args.chart,
            table.observations,
            phase1=args.phase1,
            sigma=args.sigma,
            rules=args.rules,
            convention=args.convention,
            rules_on_dispersion=args.rules_on_dispersion,
            **options,
        )
        capability = _capability(args, table)
        if args.plot is not None:
            from linewatch.pipeline.analyze_plot import plot_spec, write_plot

            of = _of(table, args.input)
            write_plot(
                plot_spec(result, of=of, times=table.times, capability=capability), args.plot
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
        doc = result.to_dict()
        if capability is not None:
            doc["capability"] = {**capability.result.to_dict(), **capability.to_dict()}
        if table.times is not None:
            doc["times"] = [t.isoformat() for t in table.times]
        if table.labels is not None:
            doc["subgroups"] = table.labels
        print(json.dumps(doc, indent=2))
    else:
        rules = parse_rules(args.rules) or RuleSet()
        of = _of(table, args.input)
        print(summary(result, of=of, rules=rules, times=table.times, capability=capability), end="")
    return 0
