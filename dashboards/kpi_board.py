"""The *Quality KPIs* board: yield, defect and rework rates, the defect Pareto, Cpk.

Per line and station (multi-value variables): first-pass yield, defective-part rate and
rework rate (the rolling station KPIs of the ``kpi`` measurement); the defect Pareto; Cpk
per characteristic (the capability KPIs, with the 1.0 and 1.33 thresholds).

The Pareto counts nonconforming units of the ``attribute`` measurement per
characteristic (porosity, spatter, crack...: the attribute records written with the
influx sink's ``records`` output) over the board's time range. Inspections' own
``defect_codes`` are stored as one ``|``-joined string field, which InfluxQL cannot
split, so they do not feed the Pareto.

>>> board = kpi_board()
>>> board["uid"], [p["title"] for p in board["panels"]][:3]
('linewatch-kpi', ['First-pass yield', 'Defect rate', 'Rework rate'])
"""

from __future__ import annotations

from typing import Any

from linewatch.dashboards.panels import (
    SCHEMA_VERSION,
    panel,
    table_target,
    target,
    variable,
    with_datasource_input,
)

__all__ = ["STATION_KPIS", "kpi_board"]

#: The station KPIs drawn one panel each: (kpi tag value, panel title).
STATION_KPIS = (
    ("fpy", "First-pass yield"),
    ("defect_rate", "Defect rate"),
    ("rework_rate", "Rework rate"),
)

_WHERE = '"line" =~ /^$line$/ AND "station" =~ /^$station$/ AND $timeFilter'
_CPK_STEPS = [
    {"color": "red", "value": None},
    {"color": "yellow", "value": 1.0},
    {"color": "green", "value": 1.33},
]


def _station_kpi(number: int, kpi: str, title: str, x: int) -> dict[str, Any]:
    return panel(
        number,
        title,
        "timeseries",
        [
            target(
                "A",
                f'SELECT "value" FROM "kpi" WHERE "kpi" = \'{kpi}\' AND {_WHERE} '
                'GROUP BY "line", "station"',
                "$tag_line/$tag_station",
            )
        ],
        (x, 0, 8, 8),
        fieldConfig={"defaults": {"unit": "percentunit", "min": 0, "max": 1}},
    )


def _pareto(number: int) -> dict[str, Any]:
    return panel(
        number,
        "Defect Pareto (nonconforming units per defect)",
        "barchart",
        [
            table_target(
                "A",
                'SELECT sum("nonconforming") AS "nonconforming" FROM "attribute" '
                f'WHERE {_WHERE} GROUP BY "characteristic"',
            )
        ],
        (0, 8, 12, 10),
        description="Sum over the time range of the attribute records' nonconforming "
        "counts, largest first.",
        transformations=[
            {"id": "organize", "options": {"excludeByName": {"Time": True}}},
            {"id": "sortBy", "options": {"sort": [{"field": "nonconforming", "desc": True}]}},
        ],
        options={"xField": "characteristic", "orientation": "horizontal", "showValue": "always"},
    )


def _cpk_now(number: int) -> dict[str, Any]:
    return panel(
        number,
        "Cpk per characteristic (latest)",
        "bargauge",
        [
            table_target(
                "A",
                'SELECT last("value") AS "value" FROM "kpi" WHERE "kpi" = \'cpk\' AND '
                f'{_WHERE} GROUP BY "station", "characteristic"',
            )
        ],
        (12, 8, 12, 10),
        fieldConfig={
            "defaults": {"min": 0, "thresholds": {"mode": "absolute", "steps": _CPK_STEPS}}
        },
        options={"reduceOptions": {"values": True, "calcs": ["lastNotNull"]}},
    )


def _cpk_trend(number: int) -> dict[str, Any]:
    return panel(
        number,
        "Cpk per characteristic",
        "timeseries",
        [
            target(
                "A",
                f'SELECT "value" FROM "kpi" WHERE "kpi" = \'cpk\' AND {_WHERE} '
                'GROUP BY "station", "characteristic"',
                "$tag_station/$tag_characteristic",
            )
        ],
        (0, 18, 24, 9),
        fieldConfig={"defaults": {"thresholds": {"mode": "absolute", "steps": _CPK_STEPS}}},
        options={"tooltip": {"mode": "multi"}},
    )


def kpi_board() -> dict[str, Any]:
    """First-pass yield, defect and rework rates per line and station; Pareto; Cpk."""
    panels = [_station_kpi(n + 1, kpi, title, 8 * n) for n, (kpi, title) in enumerate(STATION_KPIS)]
    panels += [_pareto(4), _cpk_now(5), _cpk_trend(6)]
    board = {
        "uid": "linewatch-kpi",
        "title": "Linewatch · Quality KPIs",
        "tags": ["linewatch", "kpi"],
        "schemaVersion": SCHEMA_VERSION,
        "time": {"from": "now-7d", "to": "now"},
        "refresh": "5m",
        "editable": True,
        "panels": panels,
        "templating": {
            "list": [
                variable("line", "kpi", multi=True),
                variable("station", "kpi", ("line",), multi=True),
            ]
        },
    }
    return with_datasource_input(board)
