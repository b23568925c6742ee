"""Grafana boards as code, built from the storage schema alone.

Boards: *SPC chart* (one characteristic's location chart with its limits, zone lines and
rule violations marked by rule, its R/S/MR chart under it, its limit versions and alerts,
picked with template variables), *Line overview* (yield, defects, capability, alerts per
station) and *Quality KPIs* (:mod:`linewatch.dashboards.kpi_board`). Queries are InfluxQL
against the datasource input ``DS_LINEWATCH`` (see :mod:`linewatch.dashboards.panels`);
every measurement, tag and field they name is checked against
:data:`linewatch.pipeline.models.STORAGE_SCHEMA` when the boards are built.

>>> board = spc_chart_board()
>>> board["uid"], [p["title"] for p in board["panels"]][:2]
('linewatch-spc', ['$characteristic · $chart', 'Dispersion (R, S or MR) of $characteristic'])
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from linewatch.dashboards.panels import (
    DATASOURCE,
    SCHEMA_VERSION,
    check_queries,
    with_datasource_input,
)
from linewatch.dashboards.panels import panel as _panel
from linewatch.dashboards.panels import target as _target
from linewatch.dashboards.panels import variable as _variable

__all__ = [
    "DATASOURCE",
    "DISPERSION_CHARTS",
    "RULES",
    "all_boards",
    "check_queries",
    "line_overview_board",
    "spc_chart_board",
    "write_boards",
]

#: The ``chart`` tag values of dispersion charts, drawn under their location chart.
DISPERSION_CHARTS = ("range", "stdev", "moving_range")
#: Rule names a chart point's ``violations`` can hold: Nelson's tests, then limit rules.
RULES = (
    *(f"nelson{test}" for test in range(1, 9)),
    "cusum_upper",
    "cusum_lower",
    "ewma",
    "t2",
)

_STREAM = (
    '"line" =~ /^$line$/ AND "station" =~ /^$station$/ AND "characteristic" =~ /^$characteristic$/'
)
_DISPERSION = "|".join(DISPERSION_CHARTS)


def _chart_targets(where: str) -> list[dict[str, Any]]:
    """Statistic, CL, limits, the ±1σ/±2σ zone lines and one marker series per rule.

    Zone lines are a third and two thirds of the way from CL to UCL, mirrored below CL
    (sigma is symmetric; an LCL may be clipped at 0): exact for 3-sigma limits.
    """
    point = f'FROM "spc_point" WHERE {where}'
    targets = [
        _target("A", f'SELECT "value" {point}', "statistic"),
        _target("B", f'SELECT "cl" {point}', "CL"),
        _target("C", f'SELECT "ucl" {point}', "UCL"),
        _target("D", f'SELECT "lcl" {point}', "LCL"),
    ]
    for ref, (sign, share, name) in zip(
        "EFGH", (("+", 1, "+1σ"), ("+", 2, "+2σ"), ("-", 1, "-1σ"), ("-", 2, "-2σ")), strict=True
    ):
        step = '("ucl" - "cl")' if share == 1 else '2 * ("ucl" - "cl")'
        targets.append(_target(ref, f'SELECT "cl" {sign} {step} / 3 {point}', name))
    for number, rule in enumerate(RULES):
        marked = f'{where} AND "violations" =~ /(^|\\|){rule}($|\\|)/'
        targets.append(
            _target(f"R{number + 1}", f'SELECT "value" FROM "spc_point" WHERE {marked}', rule)
        )
    return targets


def _chart_field_config() -> dict[str, Any]:
    fixed = {"id": "custom.showPoints", "value": "never"}
    return {
        "defaults": {"custom": {"drawStyle": "line", "showPoints": "always", "spanNulls": True}},
        "overrides": [
            {
                "matcher": {"id": "byRegexp", "options": "^(UCL|LCL)$"},
                "properties": [
                    {"id": "color", "value": {"mode": "fixed", "fixedColor": "red"}},
                    {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}},
                    fixed,
                ],
            },
            {
                "matcher": {"id": "byName", "options": "CL"},
                "properties": [
                    {"id": "color", "value": {"mode": "fixed", "fixedColor": "green"}},
                    fixed,
                ],
            },
            {
                "matcher": {"id": "byRegexp", "options": "^[+-][12]σ$"},
                "properties": [
                    {"id": "color", "value": {"mode": "fixed", "fixedColor": "orange"}},
                    {"id": "custom.lineStyle", "value": {"fill": "dot", "dash": [2, 6]}},
                    {"id": "custom.lineWidth", "value": 1},
                    fixed,
                ],
            },
            {
                # a rule's series: markers on the violating points only, in the legend
                "matcher": {"id": "byRegexp", "options": f"^({'|'.join(RULES)})$"},
                "properties": [
                    {"id": "custom.drawStyle", "value": "points"},
                    {"id": "custom.pointSize", "value": 11},
                    {"id": "custom.showPoints", "value": "always"},
                    {"id": "custom.spanNulls", "value": False},
                ],
            },
        ],
    }


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
    """One characteristic's charts: location chart with limits, zones and violations marked
    by rule; the dispersion chart (R, S or MR) under it; limit versions; violations; alerts.
    """
    stream = f"{_STREAM} AND $timeFilter"
    location = _panel(
        1,
        "$characteristic · $chart",
        "timeseries",
        _chart_targets(f'{_STREAM} AND "chart" =~ /^$chart$/ AND $timeFilter'),
        (0, 0, 24, 11),
        fieldConfig=_chart_field_config(),
        description="Zone lines at ±1σ and ±2σ (a third and two thirds of CL to UCL). A "
        "marker per rule on each point that violates it.",
    )
    dispersion = _panel(
        2,
        "Dispersion (R, S or MR) of $characteristic",
        "timeseries",
        _chart_targets(f'{_STREAM} AND "chart" =~ /^({_DISPERSION})$/ AND $timeFilter'),
        (0, 11, 24, 8),
        fieldConfig=_chart_field_config(),
        description="The range, standard deviation or moving-range chart of the same "
        "characteristic (empty for charts without one: attribute, CUSUM, EWMA).",
    )
    versions = _panel(
        3,
        "Limits version",
        "state-timeline",
        [
            _target(
                "A",
                f'SELECT "limits_version" FROM "spc_point" WHERE {_STREAM} AND '
                '"chart" =~ /^$chart$/ AND $timeFilter',
                "limits version",
            )
        ],
        (0, 19, 24, 3),
        description="Each version's limits are estimated from its first points (phase I) "
        "and hold from then on (phase II); a new version starts a new phase I. The schema "
        "stores the version, not the phase flag.",
        options={"showValue": "always", "mergeValues": True},
    )
    violations = _panel(
        4,
        "Rule violations",
        "table",
        [
            {
                **_target(
                    "A",
                    'SELECT "value", "violations", "zone", "limits_version", "cl", "ucl", '
                    f'"lcl" FROM "spc_point" WHERE {stream} AND "violations" != \'\' '
                    'GROUP BY "chart"',
                ),
                "resultFormat": "table",
            }
        ],
        (0, 22, 12, 8),
    )
    alerts = _panel(
        5,
        "Alerts",
        "table",
        [
            {
                **_target(
                    "A",
                    'SELECT "message", "value", "occurrences", "alert_id" FROM "spc_alert" '
                    f'WHERE {stream} GROUP BY "chart", "rule", "status", "severity"',
                ),
                "resultFormat": "table",
            }
        ],
        (12, 22, 12, 8),
    )
    chart_variable = _variable("chart", "spc_point", ("line", "station", "characteristic"))
    # the location chart is picked; its dispersion chart has its own panel
    # Grafana keeps the values the regex matches; no capture group, or it keeps the group
    chart_variable["regex"] = f"/^(?!(?:{_DISPERSION})$)/"
    board = {
        "uid": "linewatch-spc",
        "title": "Linewatch · SPC chart",
        "tags": ["linewatch", "spc"],
        "schemaVersion": SCHEMA_VERSION,
        "time": {"from": "now-24h", "to": "now"},
        "refresh": "30s",
        "editable": True,
        "panels": [location, dispersion, versions, violations, alerts],
        "annotations": {"list": [_annotations()]},
        "templating": {
            "list": [
                _variable("line", "spc_point"),
                _variable("station", "spc_point", ("line",)),
                _variable("characteristic", "spc_point", ("line", "station")),
                chart_variable,
            ]
        },
    }
    return with_datasource_input(board)


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
    from linewatch.dashboards.kpi_board import kpi_board
    from linewatch.dashboards.model_boards import defect_forecast_board, equipment_health_board

    boards = [spc_chart_board(), line_overview_board(), kpi_board()]
    boards += [equipment_health_board(), defect_forecast_board()]
    boards = [with_datasource_input(board) for board in boards]
    for board in boards:
        check_queries(board)
    return boards


def write_boards(folder: str | Path) -> list[Path]:
    """Write every board as ``<uid>.json`` (what Grafana's file provisioning reads)."""
    from linewatch.dashboards.health_board import prometheus_boards

    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for board in [*all_boards(), *prometheus_boards()]:
        path = target / f"{board['uid']}.json"
        path.write_text(json.dumps(board, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written
