"""Named-column input for ``linewatch analyze``: stacked (long) data and a time column.

Wide data (one subgroup per row) is read by :func:`linewatch.pipeline.analyze_cmd.
read_observations`; this module reads a CSV with a header when a column is named:

* ``value_col``: one measurement per row (stacked). ``subgroup_col`` groups the rows into
  subgroups by its value (every row with the same ID joins one subgroup, as Minitab's
  "subgroup IDs"); ``subgroup_size`` cuts consecutive rows into subgroups of N instead
  (the last one may be shorter). Without either, each row is one observation.
* Attribute charts: ``value_col`` names the count column (default ``count``), ``size_col``
  the sample sizes (default ``size``).
* ``time_col``: a date or date-time per row (ISO 8601, ``YYYY-MM-DD HH:MM:SS`` or
  ``YYYY-MM-DD``; without an offset it is UTC). Rows, then subgroups, are put in time order
  (a subgroup's time is its earliest row's; ties keep the file's order). Without
  ``value_col`` the other columns hold one wide subgroup per row.

Every bad cell is a :class:`CsvInputError` naming the file, line and column.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from linewatch.detectors.registry import chart_info

__all__ = ["CsvInputError", "Layout", "Table", "number_cell", "parse_time", "read_named"]


class CsvInputError(ValueError):
    """A problem in the input file, located by line and column."""


@dataclass(frozen=True, slots=True)
class Layout:
    """Which columns hold what (``None``: not named on the command line)."""

    value_col: str | None = None
    subgroup_col: str | None = None
    size_col: str | None = None
    time_col: str | None = None
    subgroup_size: int | None = None

    @property
    def named(self) -> bool:
        """Whether any column is named (then the file is read by :func:`read_named`)."""
        return any(
            v is not None
            for v in (
                self.value_col,
                self.subgroup_col,
                self.size_col,
                self.time_col,
                self.subgroup_size,
            )
        )


@dataclass
class Table:
    """Observations in analysis order, the file line of each, and their times and IDs."""

    observations: list[Any]
    lines: list[int]
    header: list[str]
    times: list[datetime] | None = None
    labels: list[str] | None = None
    value_name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def number_cell(text: str, path: Path, line: int, column: int) -> float:
    """``text`` as a finite float, or a CsvInputError naming the cell.

    >>> number_cell(" 2.5", Path("a.csv"), 3, 2)
    2.5
    >>> try:
    ...     number_cell("x", Path("a.csv"), 3, 2)
    ... except CsvInputError as exc:
    ...     print(exc)
    a.csv:3: column 2: not a number: 'x'
    """
    try:
        value = float(text)
    except ValueError:
        raise CsvInputError(f"{path}:{line}: column {column}: not a number: {text!r}") from None
    if not math.isfinite(value):
        raise CsvInputError(f"{path}:{line}: column {column}: not finite: {text!r}")
    return value


def parse_time(text: str, path: Path, line: int, column: int) -> datetime:
    """A date or date-time cell, timezone-aware (UTC when the cell has no offset).

    >>> parse_time("2026-03-01 08:30:00", Path("a.csv"), 2, 1).isoformat()
    '2026-03-01T08:30:00+00:00'
    >>> parse_time("2026-03-01", Path("a.csv"), 2, 1).isoformat()
    '2026-03-01T00:00:00+00:00'
    """
    try:
        stamp = datetime.fromisoformat(text.strip())
    except ValueError:
        raise CsvInputError(
            f"{path}:{line}: column {column}: not a date or time: {text!r} "
            "(ISO 8601, YYYY-MM-DD HH:MM:SS or YYYY-MM-DD)"
        ) from None
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp


def _rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CsvInputError(f"{path}: cannot read: {exc.strerror}") from None
    numbered = [
        (i + 1, [c.strip() for c in r])
        for i, r in enumerate(csv.reader(text.splitlines()))
        if any(c.strip() for c in r)
    ]
    if not numbered:
        raise CsvInputError(f"{path}: no observations")
    line, header = numbered[0]
    if not any(_not_number(c) for c in header):
        raise CsvInputError(f"{path}:{line}: a header naming the columns is required")
    return header, numbered[1:]


def _not_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return bool(cell)
    return False


def _column(path: Path, header: list[str], name: str) -> int:
    if name not in header:
        raise CsvInputError(
            f"{path}:1: header lacks column {name!r} (it has {', '.join(map(repr, header))})"
        )
    return header.index(name) + 1


def _cell(path: Path, line: int, row: list[str], column: int, name: str) -> str:
    cell = row[column - 1] if column <= len(row) else ""
    if not cell:
        raise CsvInputError(f"{path}:{line}: column {column}: {name!r} is empty")
    return cell


def _refuse(layout: Layout, chart: str, *names: str) -> None:
    for name in names:
        if getattr(layout, name) is not None:
            flag = "--" + name.replace("_", "-")
            raise ValueError(f"{flag} does not apply to --chart {chart}")


def read_named(path: Path, chart: str, layout: Layout) -> Table:
    """Read ``path`` by the columns ``layout`` names, for a chart of type ``chart``."""
    info = chart_info(chart)
    header, rows = _rows(path)
    time_column = None if layout.time_col is None else _column(path, header, layout.time_col)
    stamps: list[datetime | None] = [None] * len(rows)
    if time_column is not None:
        stamps = [
            parse_time(
                _cell(path, line, row, time_column, str(layout.time_col)), path, line, time_column
            )
            for line, row in rows
        ]
    if info.takes == "counts" or info.columns:
        return _read_columns(path, chart, layout, header, rows, stamps)
    if info.takes == "vector":
        raise ValueError(f"--chart {chart} reads a wide file (a header of parameters)")
    _refuse(layout, chart, "size_col")
    if layout.value_col is None:
        return _read_wide(path, chart, layout, header, rows, stamps, time_column)
    return _read_stacked(path, chart, layout, header, rows, stamps)


def _order(stamps: list[datetime | None]) -> list[int]:
    """Row positions in time order (stable), or file order without times."""
    if any(s is None for s in stamps):
        return list(range(len(stamps)))
    return sorted(range(len(stamps)), key=lambda i: stamps[i])  # type: ignore[return-value,arg-type]


def _times(stamps: list[datetime | None]) -> list[datetime] | None:
    return None if not stamps or any(s is None for s in stamps) else [s for s in stamps if s]


def _read_columns(
    path: Path,
    chart: str,
    layout: Layout,
    header: list[str],
    rows: list[tuple[int, list[str]]],
    stamps: list[datetime | None],
) -> Table:
    """Attribute charts (count, size) and zmr (part, value), one observation per row."""
    _refuse(layout, chart, "subgroup_size")
    info = chart_info(chart)
    rename = {"count": layout.value_col, "size": layout.size_col, "value": layout.value_col}
    if info.takes == "counts":
        _refuse(layout, chart, "subgroup_col")
        if "size" not in info.columns:
            _refuse(layout, chart, "size_col")
    else:  # zmr: the part column is the subgroup ID
        rename["part"] = layout.subgroup_col
        _refuse(layout, chart, "size_col")
    names = {wanted: rename.get(wanted) or wanted for wanted in info.columns}
    columns = {wanted: _column(path, header, name) for wanted, name in names.items()}
    observations: list[Any] = []
    lines: list[int] = []
    for line, row in rows:
        obs: dict[str, Any] = {}
        for wanted, column in columns.items():
            cell = _cell(path, line, row, column, names[wanted])
            obs[wanted] = cell if wanted == "part" else number_cell(cell, path, line, column)
        observations.append(obs)
        lines.append(line)
    order = _order(stamps)
    times = _times([stamps[i] for i in order])
    value_name = names.get("count") or names.get("value") or ""
    return Table(
        [observations[i] for i in order], [lines[i] for i in order], header, times, None, value_name
    )


def _read_wide(
    path: Path,
    chart: str,
    layout: Layout,
    header: list[str],
    rows: list[tuple[int, list[str]]],
    stamps: list[datetime | None],
    time_column: int | None,
) -> Table:
    """One subgroup (or value) per row in the columns other than the time column."""
    _refuse(layout, chart, "subgroup_col", "subgroup_size")
    takes = "values" if chart_info(chart).kind == "capability" else chart_info(chart).takes
    observations: list[Any] = []
    for line, row in rows:
        values = [
            number_cell(c, path, line, col)
            for col, c in enumerate(row, start=1)
            if c and col != time_column
        ]
        if not values:
            raise CsvInputError(f"{path}:{line}: no values")
        if takes == "value" and len(values) != 1:
            raise CsvInputError(
                f"{path}:{line}: --chart {chart} takes one value per row, got {len(values)}"
            )
        single = len(values) == 1 and takes != "subgroup"
        observations.append(values[0] if single else values)
    order = _order(stamps)
    return Table(
        [observations[i] for i in order],
        [rows[i][0] for i in order],
        [name for col, name in enumerate(header, start=1) if col != time_column],
        _times([stamps[i] for i in order]),
    )


def _read_stacked(
    path: Path,
    chart: str,
    layout: Layout,
    header: list[str],
    rows: list[tuple[int, list[str]]],
    stamps: list[datetime | None],
) -> Table:
    """One measurement per row, grouped by an ID column or by a constant size."""
    if layout.subgroup_col is not None and layout.subgroup_size is not None:
        raise ValueError("give --subgroup-col or --subgroup-size, not both")
    if layout.subgroup_size is not None and layout.subgroup_size < 1:
        raise ValueError(f"--subgroup-size must be at least 1, got {layout.subgroup_size}")
    value_name = str(layout.value_col)
    value_column = _column(path, header, value_name)
    id_column = None if layout.subgroup_col is None else _column(path, header, layout.subgroup_col)
    order = _order(stamps)
    groups: dict[str, list[int]] = {}  # ID -> row positions, in time (or file) order
    for rank, position in enumerate(order):
        line, row = rows[position]
        if id_column is not None:
            key = _cell(path, line, row, id_column, str(layout.subgroup_col))
        else:  # consecutive rows of a constant size, or each row its own observation
            key = str(rank // (layout.subgroup_size or 1) + 1)
        groups.setdefault(key, []).append(position)
    takes = "values" if chart_info(chart).kind == "capability" else chart_info(chart).takes
    grouped = layout.subgroup_col is not None or layout.subgroup_size is not None
    if takes == "subgroup" and not grouped:
        raise ValueError(f"--chart {chart} on stacked data needs --subgroup-col or --subgroup-size")
    observations: list[Any] = []
    lines: list[int] = []
    for key, members in groups.items():
        values = [
            number_cell(
                _cell(path, rows[p][0], rows[p][1], value_column, value_name),
                path,
                rows[p][0],
                value_column,
            )
            for p in members
        ]
        first = rows[members[0]][0]
        if takes == "value" and len(values) != 1:
            raise CsvInputError(
                f"{path}:{first}: --chart {chart} takes one value per subgroup, "
                f"subgroup {key!r} has {len(values)}"
            )
        observations.append(values[0] if takes == "value" or not grouped else values)
        lines.append(first)
    labels = list(groups) if id_column is not None else None
    times = _times([stamps[members[0]] for members in groups.values()])
    return Table(observations, lines, header, times, labels, value_name)
