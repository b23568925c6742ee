"""Pareto of defect codes, the alert swim lanes, and KPI trend lines."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from linewatch.pipeline.charts.control import time_x

__all__ = ["SEVERITY_COLOURS", "AlertSpan", "alert_timeline", "pareto_chart", "trend_chart"]

SEVERITY_COLOURS = {"critical": "#d62728", "warning": "#ff7f0e", "info": "#1f77b4"}


def pareto_chart(
    counts: Mapping[str, int], title: str = "Defect codes (Pareto)", width: int | str = "container"
) -> dict[str, Any]:
    """Bars by count, largest first, with the cumulative share as a line (right axis).

    >>> spec = pareto_chart({"a": 1, "b": 3})
    >>> [(d["code"], d["count"], d["cumulative"]) for d in spec["data"]["values"]]
    [('b', 3, 0.75), ('a', 1, 1.0)]
    """
    total = sum(counts.values())
    rows = []
    running = 0
    for code, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        running += count
        rows.append({"code": code, "count": count, "cumulative": running / total if total else 0.0})
    order = [row["code"] for row in rows]
    x = {
        "field": "code",
        "type": "nominal",
        "sort": order,
        "title": None,
        "axis": {"labelAngle": -30},
    }
    return {
        "title": title,
        "width": width,
        "height": 200,
        "data": {"values": rows},
        "layer": [
            {
                "mark": {"type": "bar", "color": "#4c78a8"},
                "encoding": {
                    "x": x,
                    "y": {"field": "count", "type": "quantitative", "title": "count"},
                    "tooltip": [{"field": "code"}, {"field": "count", "type": "quantitative"}],
                },
            },
            {
                "mark": {"type": "line", "color": "#e45756", "point": True},
                "encoding": {
                    "x": x,
                    "y": {
                        "field": "cumulative",
                        "type": "quantitative",
                        "title": "cumulative",
                        "axis": {"format": "%"},
                        "scale": {"domain": [0, 1]},
                    },
                    "tooltip": [{"field": "code"}, {"field": "cumulative", "format": ".1%"}],
                },
            },
        ],
        "resolve": {"scale": {"y": "independent"}},
    }


@dataclass(frozen=True, slots=True)
class AlertSpan:
    """An alert from firing to resolved (``end`` None: still firing at the end of data)."""

    stream: str
    rule: str
    severity: str
    start: datetime
    end: datetime | None
    acknowledged: datetime | None = None


def alert_timeline(
    spans: Sequence[AlertSpan],
    data_end: datetime,
    title: str = "Alert timeline",
    width: int | str = "container",
) -> dict[str, Any]:
    """One lane per stream, a bar per alert from firing to resolved, coloured by severity.

    Alerts still firing run to ``data_end``; acknowledgements show as black ticks.
    """
    lanes = sorted({s.stream for s in spans})
    rows = [
        {
            "stream": s.stream,
            "rule": s.rule,
            "severity": s.severity,
            "start": s.start.isoformat(),
            "end": (s.end or data_end).isoformat(),
            "status": "resolved" if s.end is not None else "still firing",
        }
        for s in spans
    ]
    acks = [
        {"stream": s.stream, "ts": s.acknowledged.isoformat(), "rule": s.rule}
        for s in spans
        if s.acknowledged is not None
    ]
    y = {
        "field": "stream",
        "type": "nominal",
        "sort": lanes,
        "title": None,
        "axis": {"labelLimit": 360},  # stream names are long: never cut them
    }
    layers: list[dict[str, Any]] = [
        {
            "mark": {"type": "bar", "height": 10, "cornerRadius": 2},
            "params": [
                {
                    "name": "zoom_t",
                    "select": {"type": "interval", "encodings": ["x"]},
                    "bind": "scales",
                }
            ],
            "encoding": {
                "x": time_x("start"),
                "x2": {"field": "end"},
                "y": y,
                "color": {
                    "field": "severity",
                    "type": "nominal",
                    "scale": {
                        "domain": list(SEVERITY_COLOURS),
                        "range": list(SEVERITY_COLOURS.values()),
                    },
                },
                "tooltip": [
                    {"field": "stream"},
                    {"field": "rule"},
                    {"field": "severity"},
                    {"field": "start", "type": "nominal", "title": "firing (UTC)"},
                    {"field": "end", "type": "nominal", "title": "resolved (UTC)"},
                    {"field": "status"},
                ],
            },
        }
    ]
    if acks:
        layers.append(
            {
                "data": {"values": acks},
                "mark": {"type": "tick", "color": "black", "thickness": 2},
                "encoding": {"x": time_x(), "y": y},
            }
        )
    return {
        "title": title,
        "width": width,
        "height": max(60, 22 * len(lanes)),
        "data": {"values": rows},
        "layer": layers,
    }


def trend_chart(
    points: Sequence[tuple[datetime, float]],
    title: str,
    y_title: str,
    *,
    series: str = "value",
    reference: float | None = None,
    width: int | str = "container",
    y_format: str = ".3g",
) -> dict[str, Any]:
    """A KPI over time (FPY, defect rate, rolling Cpk) with an optional reference rule."""
    layers: list[dict[str, Any]] = [
        {
            "data": {
                "values": [{"ts": t.isoformat(), "value": v, "series": series} for t, v in points]
            },
            "mark": {"type": "line", "point": {"size": 14}, "color": "#4c78a8"},
            "encoding": {
                "x": time_x(),
                "y": {
                    "field": "value",
                    "type": "quantitative",
                    "title": y_title,
                    "scale": {"zero": False},
                    "axis": {"format": y_format},
                },
                "tooltip": [
                    {"field": "ts", "type": "nominal", "title": "time (UTC)"},
                    {"field": "value", "type": "quantitative", "format": ".4g", "title": y_title},
                ],
            },
        }
    ]
    if reference is not None:
        layers.append(
            {
                "data": {"values": [{"y": reference}]},
                "mark": {"type": "rule", "color": "#d62728", "strokeDash": [4, 3]},
                "encoding": {"y": {"field": "y", "type": "quantitative"}},
            }
        )
    return {"title": title, "width": width, "height": 160, "layer": layers}
