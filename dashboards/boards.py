"""Grafana boards as code, built from the storage schema alone.

Two boards: *SPC chart* (one characteristic's chart with its limits, zones and alerts,
picked with template variables) and *Line overview* (yield, defects, capability, alerts
per station). Queries are InfluxQL against the datasource ``linewatch-influxdb`` that
``dashboards/provisioning`` defines; every measurement, tag and field they name is checked
against :data:`linewatch.pipeline.models.STORAGE_SCHEMA` when the boards are built.

>>> board = spc_chart_board()
>>> board["uid"], [p["title"] for p in board["panels"]][:2]
('linewatch-spc', ['$characteristic · $chart', 'Alerts'])
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from linewatch.pipeline.models import STORAGE_SCHEMA

__all__ = [
    "DATASOURCE",
    "all_boards",
    "check_queries",
    "line_overview_board",
    "spc_chart_board",
    "write_boards",
]

DATASOURCE = {"type": "influxdb", "uid": "linewatch-influxdb"}
SCHEMA_VERSION = 39


def _variable(name: str, measurement: str, depends: tuple[str, ...] = ()) -> dict[str, Any]:
    where = " AND ".join(f'"{d}" =~ /^${d}$/' for d in depends)
    query = f'SHOW TAG VALUES FROM "{measurement}" WITH KEY = "{name}"'
    if where:
        query += f" WHERE {where}"
    return {
        "name": name,
        "label": name,
        "type": "query",
        "datasource": DATASOURCE,
        "query": query,
        "refresh": 2,
        "includeAll": False,
        "multi": False,
        "sort": 1,
    }


def _target(ref: str, query: str, alias: str = "") -> dict[str, Any]:
    return {
        "refId": ref,
        "datasource": DATASOURCE,
        "rawQuery": True,
        "query": query,
        "resultFormat": "time_series",
        "alias": alias,
    }


def _panel(
    number: int,
    title: str,
    kind: str,
    targets: list[dict[str, Any]],
    grid: tuple[int, int, int, int],
    **options: Any,
) -> dict[str, Any]:
    x, y, w, h = grid
    return {
        "id": number,
        "title": title,
        "type": kind,
        "datasource": DATASOURCE,
        "targets": targets,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        **options,
    }


_STREAM = (
    '"line" =~ /^$line$/ AND "station" =~ /^$station$/ AND "characteristic" =~ /^$characteristic$/'
)


def _annotations() -> dict[str, Any]:
    """Acknowledgements and assignable causes (``linewatch serve``) as marks on the chart."""
    return {
        "name": "Acknowledgements and causes",
        "datasource": DATASOURCE,
        "enable": True,
        "iconColor": "orange",
        "query": (
            'SELECT "kind", "cause", "action", "author", "text", "alert_id" FROM '
            f'"alert_annotation" WHERE {_STREAM} AND $timeFilter'
        ),
        "titleColumn": "cause",
        "textColumn": "text",
        "tagsColumn": "kind",
    }


def spc_chart_board() -> dict[str, Any]:
    """One characteristic's control chart: statistic, center line, limits; its alerts."""
    chart_where = f'{_STREAM} AND "chart" =~ /^$chart$/ AND $timeFilter'
    chart = _panel(
        1,
        "$characteristic · $chart",
        "timeseries",
        [
            _target("A", f'SELECT "value" FROM "spc_point" WHERE {chart_where}', "statistic"),
            _target("B", f'SELECT "cl" FROM "spc_point" WHERE {chart_where}', "CL"),
            _target("C", f'SELECT "ucl" FROM "spc_point" WHERE {chart_where}', "UCL"),
            _target("D", f'SELECT "lcl" FROM "spc_point" WHERE {chart_where}', "LCL"),
        ],
        (0, 0, 24, 12),
        fieldConfig={
            "defaults": {"custom": {"drawStyle": "line", "showPoints": "always"}},
            "overrides": [
                {
                    "matcher": {"id": "byRegexp", "options": "UCL|LCL"},
                    "properties": [
                        {"id": "color", "value": {"mode": "fixed", "fixedColor": "red"}},
                        {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}},
                        {"id": "custom.showPoints", "value": "never"},
                    ],
                },
                {
                    "matcher": {"id": "byName", "options": "CL"},
                    "properties": [
                        {"id": "color", "value": {"mode": "fixed", "fixedColor": "green"}},
                        {"id": "custom.showPoints", "value": "never"},
                    ],
                },
            ],
        },
    )
    alerts = _panel(
        2,
        "Alerts",
        "table",
        [
            {
                **_target(
                    "A",
                    'SELECT "message", "value", "occurrences", "alert_id" FROM "spc_alert" '
                    f'WHERE {_STREAM} AND $timeFilter GROUP BY "chart", "rule", "status", '
                    '"severity"',
                ),
                "resultFormat": "table",
            }
        ],
        (0, 12, 24, 8),
    )
    return {
        "uid": "linewatch-spc",
        "title": "Linewatch · SPC chart",
        "tags": ["linewatch", "spc"],
        "schemaVersion": SCHEMA_VERSION,
        "time": {"from": "now-24h", "to": "now"},
        "refresh": "30s",
        "editable": True,
        "panels": [chart, alerts],
        "annotations": {"list": [_annotations()]},
        "templating": {
            "list": [
                _variable("line", "spc_point"),
                _variable("station", "spc_point", ("line",)),
                _variable("characteristic", "spc_point", ("line", "station")),
                _variable("chart", "spc_point", ("line", "station", "characteristic")),
            ]
        },
    }


def line_overview_board() -> dict[str, Any]:
    """Per station: first-pass yield, defects, capability, and the alerts that fire."""
    station = '"line" =~ /^$line$/ AND $timeFilter'
    panels = [
        _panel(
            1,
            "First-pass yield",
            "timeseries",
            [
                _target(
                    "A",
                    f'SELECT "value" FROM "kpi" WHERE "kpi" = \'fpy\' AND {station} '
                    'GROUP BY "station"',
                    "$tag_station",
                )
            ],
            (0, 0, 12, 8),
            fieldConfig={"defaults": {"unit": "percentunit", "min": 0, "max": 1}},
        ),
        _panel(
            2,
            "Defective parts and defects per unit",
            "timeseries",
            [
                _target(
                    "A",
                    f'SELECT "value" FROM "kpi" WHERE "kpi" = \'defect_rate\' AND {station} '
                    'GROUP BY "station"',
                    "defective $tag_station",
                ),
                _target(
                    "B",
                    f'SELECT "value" FROM "kpi" WHERE "kpi" = \'dpu\' AND {station} '
                    'GROUP BY "station"',
                    "DPU $tag_station",
                ),
            ],
            (12, 0, 12, 8),
        ),
        _panel(
            3,
            "Capability (Cpk, Ppk)",
            "timeseries",
            [
                _target(
                    "A",
                    f'SELECT "value" FROM "kpi" WHERE "kpi" =~ /^(cpk|ppk)$/ AND {station} '
                    'GROUP BY "characteristic", "kpi"',
                    "$tag_characteristic $tag_kpi",
                )
            ],
            (0, 8, 12, 8),
            fieldConfig={
                "defaults": {
                    "thresholds": {
                        "mode": "absolute",
                        "steps": [
                            {"color": "red", "value": None},
                            {"color": "yellow", "value": 1.0},
                            {"color": "green", "value": 1.33},
                        ],
                    }
                }
            },
        ),
        _panel(
            4,
            "Alerts fired per station",
            "barchart",
            [
                {
                    **_target(
                        "A",
                        'SELECT count("alert_id") FROM "spc_alert" WHERE "status" = \'firing\' AND '
                        f'{station} GROUP BY "station"',
                    ),
                    "resultFormat": "table",
                }
            ],
            (12, 8, 12, 8),
        ),
        _panel(
            5,
            "Recent alerts",
            "table",
            [
                {
                    **_target(
                        "A",
                        'SELECT "message", "value", "alert_id" FROM "spc_alert" WHERE '
                        f'{station} GROUP BY "station", "characteristic", "chart", "rule", "status", '
                        '"severity"',
                    ),
                    "resultFormat": "table",
                }
            ],
            (0, 16, 24, 10),
        ),
    ]
    return {
        "uid": "linewatch-line",
        "title": "Linewatch · Line overview",
        "tags": ["linewatch"],
        "schemaVersion": SCHEMA_VERSION,
        "time": {"from": "now-24h", "to": "now"},
        "refresh": "1m",
        "editable": True,
        "panels": panels,
        "templating": {"list": [_variable("line", "kpi")]},
    }


def all_boards() -> list[dict[str, Any]]:
    from linewatch.dashboards.model_boards import defect_forecast_board, equipment_health_board

    boards = [spc_chart_board(), line_overview_board()]
    boards += [equipment_health_board(), defect_forecast_board()]
    for board in boards:
        check_queries(board)
    return boards


_FROM = re.compile(r'FROM "([a-z_]+)"')
_QUOTED = re.compile(r'"([a-z_]+)"')


def check_queries(board: dict[str, Any]) -> None:
    """Every measurement, tag and field a board's queries name exists in the schema."""
    queries = [t["query"] for p in board["panels"] for t in p["targets"]]
    queries += [v["query"] for v in board["templating"]["list"]]
    queries += [a["query"] for a in board.get("annotations", {}).get("list", [])]
    for query in queries:
        measurements = _FROM.findall(query)
        if len(measurements) != 1 or measurements[0] not in STORAGE_SCHEMA:
            raise ValueError(f"board {board['uid']}: unknown measurement in {query!r}")
        tags, fields = STORAGE_SCHEMA[measurements[0]]
        for name in _QUOTED.findall(query):
            if name not in (*tags, *fields, measurements[0]):
                raise ValueError(
                    f"board {board['uid']}: {name!r} is not a tag or field of "
                    f"{measurements[0]} in {query!r}"
                )


def write_boards(folder: str | Path) -> list[Path]:
    """Write every board as ``<uid>.json`` (what Grafana's file provisioning reads)."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for board in all_boards():
        path = target / f"{board['uid']}.json"
        path.write_text(json.dumps(board, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written
