"""The model boards: *Equipment health* and *Defect forecast*, from the storage schema.

* **Equipment health**: a station's model scores (``model_score``) against their alarm
  thresholds, the model alerts with the parameters that drove them (the alert message
  names the top contributors), and the station's raw parameters.
* **Defect forecast**: the predicted defect probability of each part (``model_score``
  field ``predicted_defect_p``), the forecasts (``spc_point`` charts ``forecast:<name>``:
  the forecast, the current level and the limits they are judged against), the defect
  rate, the predictor's AUC and log loss (``kpi``), and the predictive alerts.

>>> [p["title"] for p in equipment_health_board()["panels"]][:2]
['Model score · $model', 'Model alerts and the parameters that drove them']
"""

from __future__ import annotations

from typing import Any

from linewatch.dashboards.panels import SCHEMA_VERSION
from linewatch.dashboards.panels import panel as _panel
from linewatch.dashboards.panels import target as _target
from linewatch.dashboards.panels import variable as _variable

__all__ = ["defect_forecast_board", "equipment_health_board"]

_RED_DASHED = [
    {"id": "color", "value": {"mode": "fixed", "fixedColor": "red"}},
    {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}},
    {"id": "custom.showPoints", "value": "never"},
]


def _table(ref: str, query: str) -> dict[str, Any]:
    return {**_target(ref, query), "resultFormat": "table"}


def equipment_health_board() -> dict[str, Any]:
    """One station's equipment models: score and threshold, alerts, parameters."""
    model = '"line" =~ /^$line$/ AND "station" =~ /^$station$/ AND "model" =~ /^$model$/'
    station = '"line" =~ /^$line$/ AND "station" =~ /^$station$/'
    panels = [
        _panel(
            1,
            "Model score · $model",
            "timeseries",
            [
                _target(
                    "A",
                    f'SELECT "score" FROM "model_score" WHERE {model} AND $timeFilter '
                    'GROUP BY "equipment"',
                    "score $tag_equipment",
                ),
                _target(
                    "B",
                    f'SELECT "threshold" FROM "model_score" WHERE {model} AND $timeFilter '
                    'GROUP BY "equipment"',
                    "threshold",
                ),
            ],
            (0, 0, 24, 10),
            fieldConfig={
                "defaults": {"min": 0, "max": 1, "custom": {"drawStyle": "line"}},
                "overrides": [
                    {"matcher": {"id": "byName", "options": "threshold"}, "properties": _RED_DASHED}
                ],
            },
        ),
        _panel(
            2,
            "Model alerts and the parameters that drove them",
            "table",
            [
                _table(
                    "A",
                    'SELECT "message", "value", "occurrences", "alert_id" FROM "spc_alert" '
                    f'WHERE {station} AND "characteristic" =~ /^$model$/ AND "rule" =~ /^model:/ '
                    'AND $timeFilter GROUP BY "rule", "status", "severity"',
                )
            ],
            (0, 10, 24, 8),
        ),
        _panel(
            3,
            "Equipment parameters",
            "timeseries",
            [
                _target(
                    "A",
                    f'SELECT "value" FROM "process_param" WHERE {station} AND $timeFilter '
                    'GROUP BY "equipment", "name"',
                    "$tag_equipment/$tag_name",
                )
            ],
            (0, 18, 24, 10),
        ),
    ]
    return {
        "uid": "linewatch-equipment",
        "title": "Linewatch · Equipment health",
        "tags": ["linewatch", "models"],
        "schemaVersion": SCHEMA_VERSION,
        "time": {"from": "now-24h", "to": "now"},
        "refresh": "30s",
        "editable": True,
        "panels": panels,
        "templating": {
            "list": [
                _variable("line", "model_score"),
                _variable("station", "model_score", ("line",)),
                _variable("model", "model_score", ("line", "station")),
            ]
        },
    }


def defect_forecast_board() -> dict[str, Any]:
    """A line's predicted defect risk, the forecasts against their limits, predictive alerts."""
    line = '"line" =~ /^$line$/ AND $timeFilter'
    forecast = f'"chart" =~ /^forecast:/ AND {line} GROUP BY "station", "characteristic", "chart"'
    panels = [
        _panel(
            1,
            "Predicted defect probability",
            "timeseries",
            [
                _target(
                    "A",
                    'SELECT mean("predicted_defect_p") FROM "model_score" WHERE '
                    f'{line} GROUP BY time($__interval), "station", "model" fill(none)',
                    "P(defect) $tag_model",
                )
            ],
            (0, 0, 12, 9),
            fieldConfig={"defaults": {"unit": "percentunit", "min": 0}},
        ),
        _panel(
            2,
            "Forecast against the limits",
            "timeseries",
            [
                _target(
                    "A",
                    f'SELECT "value" FROM "spc_point" WHERE {forecast}',
                    "forecast $tag_chart",
                ),
                _target("B", f'SELECT "cl" FROM "spc_point" WHERE {forecast}', "level $tag_chart"),
                _target("C", f'SELECT "ucl" FROM "spc_point" WHERE {forecast}', "UCL $tag_chart"),
                _target("D", f'SELECT "lcl" FROM "spc_point" WHERE {forecast}', "LCL $tag_chart"),
            ],
            (12, 0, 12, 9),
            fieldConfig={
                "defaults": {"custom": {"drawStyle": "line"}},
                "overrides": [
                    {
                        "matcher": {"id": "byRegexp", "options": "^(UCL|LCL) "},
                        "properties": _RED_DASHED,
                    }
                ],
            },
        ),
        _panel(
            3,
            "Defect rate",
            "timeseries",
            [
                _target(
                    "A",
                    f'SELECT "value" FROM "kpi" WHERE "kpi" = \'defect_rate\' AND {line} '
                    'GROUP BY "station"',
                    "defective $tag_station",
                )
            ],
            (0, 9, 12, 8),
            fieldConfig={"defaults": {"unit": "percentunit", "min": 0}},
        ),
        _panel(
            4,
            "Defect predictor: prequential AUC and log loss",
            "timeseries",
            [
                _target(
                    "A",
                    f'SELECT "value" FROM "kpi" WHERE "kpi" =~ /^(auc|log_loss)$/ AND {line} '
                    'GROUP BY "characteristic", "kpi"',
                    "$tag_characteristic $tag_kpi",
                )
            ],
            (12, 9, 12, 8),
        ),
        _panel(
            5,
            "Predictive alerts",
            "table",
            [
                _table(
                    "A",
                    'SELECT "message", "value", "alert_id" FROM "spc_alert" WHERE '
                    f'"rule" =~ /^forecast/ AND {line} GROUP BY "station", "characteristic", '
                    '"rule", "status", "severity"',
                )
            ],
            (0, 17, 24, 9),
        ),
    ]
    return {
        "uid": "linewatch-defect-forecast",
        "title": "Linewatch · Defect forecast",
        "tags": ["linewatch", "models"],
        "schemaVersion": SCHEMA_VERSION,
        "time": {"from": "now-24h", "to": "now"},
        "refresh": "1m",
        "editable": True,
        "panels": panels,
        "templating": {"list": [_variable("line", "model_score")]},
    }
