"""The Pipeline health board and the compose stack's Prometheus.

The board's PromQL is checked against the catalogue of what /metrics exports
(``pipeline.metrics.EXPORTED``, itself checked against a real scrape in test_metrics.py),
as the InfluxDB boards are checked against the storage schema.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from linewatch.dashboards.health_board import PROMETHEUS, pipeline_health_board
from linewatch.pipeline.config import load_config
from linewatch.pipeline.metrics import EXPORTED

ROOT = Path(__file__).resolve().parents[2]
#: Labels Prometheus adds to every scraped sample.
TARGET_LABELS = {"instance", "job"}

_METRIC = re.compile(r"\b(linewatch_[a-z_]+)\b")
_BY = re.compile(r"\bby \(([^)]*)\)")
_MATCHER = re.compile(r'([a-z_]+)=~?"')


def check_promql(board: dict[str, Any]) -> None:
    """Every metric a query names is exported, with the labels it groups or filters by."""
    queries = [t["expr"] for p in board["panels"] for t in p["targets"]]
    queries += [v["query"]["query"] for v in board["templating"]["list"] if v["type"] == "query"]
    for query in queries:
        names = _METRIC.findall(query)
        if not names:
            raise ValueError(f"{query!r} names no linewatch metric")
        for name in names:
            if name not in EXPORTED:
                raise ValueError(f"{name!r} is not exported by /metrics, in {query!r}")
            used = {label.strip() for group in _BY.findall(query) for label in group.split(",")}
            used |= set(_MATCHER.findall(query))
            unknown = used - set(EXPORTED[name]) - TARGET_LABELS
            if unknown:
                raise ValueError(f"{name} has no label {sorted(unknown)}, in {query!r}")


def test_the_committed_board_is_the_built_one() -> None:
    committed = json.loads((ROOT / "dashboards/json/linewatch-pipeline.json").read_text())
    assert committed == pipeline_health_board(), "run `python -m dashboards` and commit"


def test_the_board_reads_only_exported_metrics_and_labels() -> None:
    board = pipeline_health_board()
    check_promql(board)
    exprs = {p["title"]: [t["expr"] for t in p["targets"]] for p in board["panels"]}
    assert exprs["Consumer lag per partition"] == [
        'sum by (topic, partition) (linewatch_consumer_lag{instance=~"$instance"})'
    ]
    assert exprs["Dead letters / s by reason"] == [
        'sum by (reason) (rate(linewatch_dead_letters_total{instance=~"$instance"}'
        "[$__rate_interval]))"
    ]
    covered = {name for e in exprs.values() for q in e for name in _METRIC.findall(q)}
    # everything the brief asks to watch is on the board
    assert covered >= {
        "linewatch_records_in_total",
        "linewatch_records_out_total",
        "linewatch_consumer_lag",
        "linewatch_dead_letters_total",
        "linewatch_alerts_total",
        "linewatch_checkpoint_age_seconds",
        "linewatch_sink_spool_lines",
        "linewatch_sink_backpressure_waits_total",
        "linewatch_rebalances_total",
    }


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("sum(rate(linewatch_records_total[5m]))", "'linewatch_records_total' is not exported"),
        ("sum by (station) (linewatch_consumer_lag)", "has no label \\['station'\\]"),
        ('linewatch_alerts_total{rule="nelson1"}', "has no label \\['rule'\\]"),
    ],
)
def test_a_query_the_metrics_cannot_answer_is_refused(query: str, problem: str) -> None:
    board = pipeline_health_board()
    board["panels"][0]["targets"][0]["expr"] = query
    with pytest.raises(ValueError, match=problem):
        check_promql(board)


def _datasources(node: Any) -> list[Any]:
    if isinstance(node, dict):
        found = [v for k, v in node.items() if k == "datasource"]
        return found + [d for v in node.values() for d in _datasources(v)]
    if isinstance(node, list):
        return [d for item in node for d in _datasources(item)]
    return []


def test_the_board_takes_its_prometheus_as_an_input() -> None:
    board = pipeline_health_board()
    assert [i["pluginId"] for i in board["__inputs"]] == ["prometheus"]
    assert board["templating"]["list"][0]["type"] == "datasource"
    found = _datasources(board)
    targets = sum(len(p["targets"]) for p in board["panels"])
    assert len(found) == len(board["panels"]) + targets + 1  # + the worker variable
    assert all(d == PROMETHEUS for d in found)
    assert "linewatch-prometheus" not in json.dumps(board)


def test_compose_runs_prometheus_scraping_the_workers_metrics_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("INFLUXDB_PASSWORD", "secret")  # plant.yaml's Influx sink needs it
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    prometheus = services["prometheus"]
    mount = next(v for v in prometheus["volumes"] if v.endswith("prometheus.yml:ro"))
    host_path, container_path, _ = mount.split(":")
    assert f"--config.file={container_path}" in prometheus["command"]
    scrape = yaml.safe_load((ROOT / host_path).read_text())
    (job,) = scrape["scrape_configs"]
    (discovery,) = job["dns_sd_configs"]
    assert discovery["names"] == ["linewatch"] and "linewatch" in services
    plant = load_config(ROOT / "examples/compose/plant.yaml")
    assert plant.metrics is not None
    assert (discovery["port"], job["metrics_path"]) == (plant.metrics.port, "/metrics")
    assert plant.metrics.host == "0.0.0.0"  # reachable from the Prometheus container
    assert str(plant.metrics.port) in " ".join(services["linewatch"]["healthcheck"]["test"])
    datasources = yaml.safe_load(
        (ROOT / "dashboards/provisioning/datasources/linewatch.yaml").read_text()
    )["datasources"]
    (provisioned,) = [d for d in datasources if d["type"] == "prometheus"]
    assert provisioned["url"] == "http://prometheus:9090"
    assert "127.0.0.1:9090:9090" in prometheus["ports"]
