"""The *Pipeline health* board: the workers' own /metrics, scraped by Prometheus.

Unlike the other boards it reads Prometheus, not InfluxDB: the datasource is the input
``DS_PROMETHEUS`` (and a datasource variable of the same name, for file provisioning).
Its PromQL names only ``linewatch_*`` metrics and their labels; the tests check each
against a real scrape of ``linewatch run`` (the metric names live with the pipeline,
and this package depends on nothing but the storage schema).

>>> board = pipeline_health_board()
>>> board["uid"], board["panels"][0]["title"]
('linewatch-pipeline', 'Records in / s')
"""

from __future__ import annotations

from typing import Any

from linewatch.dashboards.panels import SCHEMA_VERSION

__all__ = ["PROMETHEUS", "PROMETHEUS_INPUT", "pipeline_health_board", "prometheus_boards"]

PROMETHEUS_INPUT = "DS_PROMETHEUS"
PROMETHEUS = {"type": "prometheus", "uid": "${" + PROMETHEUS_INPUT + "}"}
_WORKERS = 'instance=~"$instance"'


def _target(ref: str, expr: str, legend: str) -> dict[str, Any]:
    return {"refId": ref, "datasource": PROMETHEUS, "expr": expr, "legendFormat": legend}


def _panel(
    number: int,
    title: str,
    kind: str,
    targets: list[dict[str, Any]],
    grid: tuple[int, int, int, int],
    unit: str = "short",
    thresholds: list[tuple[float | None, str]] | None = None,
) -> dict[str, Any]:
    x, y, w, h = grid
    steps = [{"value": v, "color": c} for v, c in (thresholds or [(None, "green")])]
    return {
        "id": number,
        "title": title,
        "type": kind,
        "datasource": PROMETHEUS,
        "targets": targets,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {
            "defaults": {"unit": unit, "thresholds": {"mode": "absolute", "steps": steps}},
            "overrides": [],
        },
    }


def _rate(metric: str, by: str) -> str:
    return f"sum by ({by}) (rate({metric}{{{_WORKERS}}}[$__rate_interval]))"


def pipeline_health_board() -> dict[str, Any]:
    """Throughput, lag, dead letters, alerts, checkpoints and sinks of every worker."""
    panels = [
        _panel(
            1,
            "Records in / s",
            "timeseries",
            [_target("A", _rate("linewatch_records_in_total", "instance"), "{{instance}}")],
            (0, 0, 8, 8),
            "rps",
        ),
        _panel(
            2,
            "Outputs / s by kind",
            "timeseries",
            [_target("A", _rate("linewatch_records_out_total", "kind"), "{{kind}}")],
            (8, 0, 8, 8),
            "rps",
        ),
        _panel(
            3,
            "Consumer lag per partition",
            "timeseries",
            [
                _target(
                    "A",
                    f"sum by (topic, partition) (linewatch_consumer_lag{{{_WORKERS}}})",
                    "{{topic}}/{{partition}}",
                )
            ],
            (16, 0, 8, 8),
            "short",
            [(None, "green"), (10_000, "orange"), (100_000, "red")],
        ),
        _panel(
            4,
            "Dead letters / s by reason",
            "timeseries",
            [_target("A", _rate("linewatch_dead_letters_total", "reason"), "{{reason}}")],
            (0, 8, 8, 8),
            "rps",
        ),
        _panel(
            5,
            "Alerts fired by severity",
            "bargauge",
            [
                _target(
                    "A",
                    "sum by (severity) (increase(linewatch_alerts_total"
                    f'{{status="firing", {_WORKERS}}}[$__range]))',
                    "{{severity}}",
                )
            ],
            (8, 8, 8, 8),
        ),
        _panel(
            6,
            "Checkpoint age",
            "timeseries",
            [
                _target(
                    "A",
                    f"max by (instance) (linewatch_checkpoint_age_seconds{{{_WORKERS}}})",
                    "{{instance}}",
                )
            ],
            (16, 8, 8, 8),
            "s",
            [(None, "green"), (30, "orange"), (120, "red")],
        ),
        _panel(
            7,
            "Spooled lines per sink",
            "timeseries",
            [
                _target(
                    "A",
                    f"sum by (instance, sink) (linewatch_sink_spool_lines{{{_WORKERS}}})",
                    "{{instance}} {{sink}}",
                )
            ],
            (0, 16, 8, 8),
        ),
        _panel(
            8,
            "Backpressure waits per sink",
            "timeseries",
            [
                _target(
                    "A",
                    "sum by (sink) (increase(linewatch_sink_backpressure_waits_total"
                    f"{{{_WORKERS}}}[$__rate_interval]))",
                    "{{sink}}",
                )
            ],
            (8, 16, 8, 8),
        ),
        _panel(
            9,
            "Healthy workers, rebalances",
            "stat",
            [
                _target("A", f"sum(linewatch_healthy{{{_WORKERS}}})", "healthy"),
                _target("B", f"count(linewatch_healthy{{{_WORKERS}}})", "workers"),
                _target(
                    "C",
                    f"sum(increase(linewatch_rebalances_total{{{_WORKERS}}}[$__range]))",
                    "rebalances",
                ),
            ],
            (16, 16, 8, 8),
        ),
    ]
    instance = {
        "name": "instance",
        "label": "worker",
        "type": "query",
        "datasource": PROMETHEUS,
        "query": {"query": "label_values(linewatch_records_in_total, instance)", "refId": "v"},
        "refresh": 2,
        "includeAll": True,
        "multi": True,
        "sort": 1,
    }
    datasource = {
        "name": PROMETHEUS_INPUT,
        "label": "Datasource",
        "type": "datasource",
        "query": "prometheus",
        "refresh": 1,
        "regex": "",
        "hide": 0,
        "includeAll": False,
        "multi": False,
    }
    return {
        "__inputs": [
            {
                "name": PROMETHEUS_INPUT,
                "label": "Prometheus",
                "description": "the Prometheus that scrapes linewatch run's /metrics",
                "type": "datasource",
                "pluginId": "prometheus",
                "pluginName": "Prometheus",
            }
        ],
        "uid": "linewatch-pipeline",
        "title": "Linewatch · Pipeline health",
        "tags": ["linewatch", "operations"],
        "timezone": "utc",
        "schemaVersion": SCHEMA_VERSION,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [datasource, instance]},
        "panels": panels,
    }


def prometheus_boards() -> list[dict[str, Any]]:
    """The boards that read Prometheus (written and pushed beside the InfluxDB ones)."""
    return [pipeline_health_board()]
