"""Shewhart-style control charts: the statistic, CL, limits, zone lines, violations.

Limits are drawn as step lines (``step-after``) from the points' own ``cl``/``ucl``/
``lcl``, so a new limits version shows where it took effect; a dashed rule marks each
version change. The ±1σ/±2σ zone lines are a third and two thirds of the way from CL
to each limit (asymmetric limits, clipped at zero for an R or p chart, keep their
own side). Phase I is shaded. Each violating point is ringed in red and labelled
``#k rule`` (k counts the violations of the chart, from 1, as users count).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "LIMIT_STYLES",
    "ChartRow",
    "chart_rows_data",
    "control_chart",
    "location_and_dispersion",
    "number_x",
    "time_x",
]

#: Series drawn from the limits: key -> (label, colour, dash).
LIMIT_STYLES: dict[str, tuple[str, str, list[int]]] = {
    "ucl": ("UCL", "#d62728", [1, 0]),
    "u2": ("+2σ", "#ff9896", [4, 3]),
    "u1": ("+1σ", "#c7c7c7", [2, 3]),
    "cl": ("CL", "#2ca02c", [1, 0]),
    "l1": ("−1σ", "#c7c7c7", [2, 3]),
    "l2": ("−2σ", "#ff9896", [4, 3]),
    "lcl": ("LCL", "#d62728", [1, 0]),
}


@dataclass(frozen=True, slots=True)
class ChartRow:
    """One plotted point as the charts need it (a :class:`ChartPoint` plus its phase)."""

    ts: datetime
    value: float
    cl: float | None
    ucl: float | None
    lcl: float | None
    zone: str = ""
    violations: tuple[str, ...] = ()
    limits_version: int = 0
    phase: str = "II"  # "I" while the point belongs to a phase-I window
    number: int = 0  # 1-based position on its chart
    extra: dict[str, Any] = field(default_factory=dict)


def time_x(name: str = "ts", title: str | None = None) -> dict[str, Any]:
    """A temporal x encoding in UTC (the report's times are UTC, whatever the reader's zone)."""
    return {
        "field": name,
        "type": "temporal",
        "title": title,
        "scale": {"type": "utc"},
        "axis": {"format": "%d %b %H:%M", "labelAngle": 0, "labelOverlap": True},
    }


def _zones(row: ChartRow) -> dict[str, float | None]:
    if row.cl is None:
        return {"u1": None, "u2": None, "l1": None, "l2": None}
    up = None if row.ucl is None else (row.ucl - row.cl) / 3
    down = None if row.lcl is None else (row.cl - row.lcl) / 3
    return {
        "u1": None if up is None else row.cl + up,
        "u2": None if up is None else row.cl + 2 * up,
        "l1": None if down is None else row.cl - down,
        "l2": None if down is None else row.cl - 2 * down,
    }


def chart_rows_data(rows: Sequence[ChartRow]) -> list[dict[str, Any]]:
    """The rows as Vega-Lite data values (ISO timestamps, zone lines, violation labels).

    >>> from datetime import UTC
    >>> row = ChartRow(datetime(2026, 1, 1, tzinfo=UTC), 13.0, 10.0, 13.0, 7.0, "A", ("nelson1",), 1, "II", 4)
    >>> d = chart_rows_data([row])[0]
    >>> d["u1"], d["u2"], d["l2"], d["label"]
    (11.0, 12.0, 8.0, '#1 nelson1')
    """
    out: list[dict[str, Any]] = []
    count = 0
    for row in rows:
        label = ""
        if row.violations:
            count += 1
            label = f"#{count} {', '.join(row.violations)}"
        out.append(
            {
                "ts": row.ts.isoformat(),
                "n": row.number,
                "value": row.value,
                "cl": row.cl,
                "ucl": row.ucl,
                "lcl": row.lcl,
                **_zones(row),
                "zone": row.zone,
                "violations": ", ".join(row.violations),
                "label": label,
                "limits_version": row.limits_version,
                "phase": row.phase,
                **row.extra,
            }
        )
    return out


def number_x(name: str = "n", title: str | None = "point") -> dict[str, Any]:
    """A point-number x encoding (1-based), for data without times (``analyze``)."""
    return {
        "field": name,
        "type": "quantitative",
        "title": title,
        "scale": {"zero": False, "nice": False},
        "axis": {"tickMinStep": 1, "format": "d"},
    }


def _phase_spans(rows: Sequence[ChartRow], by_number: bool = False) -> list[dict[str, Any]]:
    spans: list[dict[str, Any]] = []
    start: ChartRow | None = None
    previous: ChartRow | None = None
    for row in rows:
        if row.phase == "I" and start is None:
            start = row
        elif row.phase != "I" and start is not None and previous is not None:
            spans.append(_span(start, previous, by_number))
            start = None
        previous = row
    if start is not None and previous is not None:
        spans.append(_span(start, previous, by_number))
    return spans


def _span(start: ChartRow, end: ChartRow, by_number: bool) -> dict[str, Any]:
    if by_number:
        return {"start": start.number, "end": end.number}
    return {"start": start.ts.isoformat(), "end": end.ts.isoformat()}


def _version_changes(rows: Sequence[ChartRow], by_number: bool = False) -> list[dict[str, Any]]:
    changes: list[dict[str, Any]] = []
    version = None
    for row in rows:
        if row.limits_version != version and row.limits_version > 1:
            where = {"n": row.number} if by_number else {"ts": row.ts.isoformat()}
            changes.append({**where, "version": f"limits v{row.limits_version}"})
        version = row.limits_version
    return changes


def control_chart(
    rows: Sequence[ChartRow],
    title: str,
    y_title: str = "value",
    width: int | str = "container",
    height: int = 220,
    x_axis: str = "time",
) -> dict[str, Any]:
    """One control chart as a Vega-Lite layered spec (zoom and pan on x, tooltips).

    ``x_axis``: ``"time"`` (the rows' timestamps) or ``"number"`` (their 1-based numbers).
    """
    by_number = x_axis == "number"
    x = number_x() if by_number else time_x()
    keys = list(LIMIT_STYLES)
    limits_layer = {
        "transform": [
            {"fold": keys, "as": ["limit", "y"]},
            {"filter": "datum.y != null"},
        ],
        "mark": {"type": "line", "interpolate": "step-after", "strokeWidth": 1},
        "encoding": {
            "x": x,
            "y": {"field": "y", "type": "quantitative"},
            "detail": {"field": "limit"},
            "color": {
                "field": "limit",
                "type": "nominal",
                "scale": {
                    "domain": keys,
                    "range": [LIMIT_STYLES[k][1] for k in keys],
                },
                "legend": None,
            },
            "strokeDash": {
                "field": "limit",
                "type": "nominal",
                "scale": {"domain": keys, "range": [LIMIT_STYLES[k][2] for k in keys]},
                "legend": None,
            },
        },
    }
    tooltip = [
        {"field": "n", "type": "quantitative", "title": "point"},
        {"field": "ts", "type": "nominal", "title": "time (UTC)"},
        {"field": "value", "type": "quantitative", "format": ".5g"},
        {"field": "cl", "type": "quantitative", "title": "CL", "format": ".5g"},
        {"field": "ucl", "type": "quantitative", "title": "UCL", "format": ".5g"},
        {"field": "lcl", "type": "quantitative", "title": "LCL", "format": ".5g"},
        {"field": "zone", "type": "nominal"},
        {"field": "violations", "type": "nominal"},
        {"field": "limits_version", "type": "quantitative", "title": "limits version"},
        {"field": "phase", "type": "nominal"},
    ]
    layers: list[dict[str, Any]] = []
    spans = _phase_spans(rows, by_number)
    if spans:
        layers.append(
            {
                "data": {"values": spans},
                "mark": {"type": "rect", "color": "#9ecae1", "opacity": 0.25},
                "encoding": {
                    "x": number_x("start") if by_number else time_x("start"),
                    "x2": {"field": "end"},
                    "tooltip": {"value": "phase I (limits estimated here)"},
                },
            }
        )
    changes = _version_changes(rows, by_number)
    if changes:
        layers.append(
            {
                "data": {"values": changes},
                "mark": {"type": "rule", "color": "#7f7f7f", "strokeDash": [6, 4]},
                "encoding": {
                    "x": x,
                    "tooltip": {"field": "version", "type": "nominal"},
                },
            }
        )
    layers += [
        limits_layer,
        {
            "mark": {"type": "line", "color": "#1f77b4", "strokeWidth": 1, "point": {"size": 12}},
            "params": [
                {
                    "name": "zoom_x",
                    "select": {"type": "interval", "encodings": ["x"]},
                    "bind": "scales",
                }
            ],
            "encoding": {
                "x": x,
                "y": {
                    "field": "value",
                    "type": "quantitative",
                    "title": y_title,
                    "scale": {"zero": False, "padding": 12},
                },
                "tooltip": tooltip,
            },
        },
    ]
    if any(row.violations for row in rows):  # an empty layer only draws a warning
        layers += [
            {
                "transform": [{"filter": "datum.violations != ''"}],
                "mark": {"type": "point", "color": "#d62728", "size": 60, "filled": True},
                "encoding": {
                    "x": x,
                    "y": {"field": "value", "type": "quantitative"},
                    "tooltip": tooltip,
                },
            },
            {
                "transform": [{"filter": "datum.violations != ''"}],
                "mark": {
                    "type": "text",
                    "color": "#d62728",
                    "dx": 4,
                    "dy": -8,
                    "fontSize": 9,
                    "align": "left",
                },
                "encoding": {
                    "x": x,
                    "y": {"field": "value", "type": "quantitative"},
                    "text": {"field": "label"},
                },
            },
        ]
    return {
        "title": title,
        "width": width,
        "height": height,
        "data": {"values": chart_rows_data(rows)},
        "layer": layers,
    }


def location_and_dispersion(
    location: dict[str, Any], dispersion: dict[str, Any], title: str
) -> dict[str, Any]:
    """An X̄ chart above its R or S chart, one shared time axis.

    Only the upper chart binds the zoom (two bindings of one shared scale conflict);
    zooming it zooms both.
    """
    lower = dict(dispersion)
    lower["layer"] = [
        {k: v for k, v in layer.items() if k != "params"} for layer in dispersion["layer"]
    ]
    return {
        "title": title,
        "vconcat": [location, lower],
        "resolve": {"scale": {"x": "shared"}},
    }
