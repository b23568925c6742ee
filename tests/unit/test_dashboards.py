"""Grafana boards as code: in sync with the schema, provisioned, pushed over real HTTP."""

from __future__ import annotations

import json
import re
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from linewatch.dashboards.boards import (
    DISPERSION_CHARTS,
    RULES,
    all_boards,
    check_queries,
    spc_chart_board,
)
from linewatch.dashboards.kpi_board import kpi_board
from linewatch.dashboards.panels import DATASOURCE
from linewatch.dashboards.push import push_boards
from linewatch.pipeline.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_committed_boards_are_the_built_ones() -> None:
    for board in all_boards():
        committed = json.loads((ROOT / "dashboards" / "json" / f"{board['uid']}.json").read_text())
        assert committed == board, "run `python -m dashboards` and commit dashboards/json"


def test_a_query_naming_a_field_the_schema_lacks_is_refused() -> None:
    board = spc_chart_board()
    board["panels"][0]["targets"][0]["query"] = 'SELECT "sigma" FROM "spc_point" WHERE $timeFilter'
    with pytest.raises(ValueError, match="'sigma' is not a tag or field of spc_point"):
        check_queries(board)


def test_the_spc_board_marks_acknowledgements_and_causes() -> None:
    board = spc_chart_board()
    (mark,) = board["annotations"]["list"]
    assert mark["datasource"] == DATASOURCE
    assert mark["query"] == (
        'SELECT "kind", "cause", "action", "author", "text", "alert_id" FROM "alert_annotation" '
        'WHERE "line" =~ /^$line$/ AND "station" =~ /^$station$/ AND '
        '"characteristic" =~ /^$characteristic$/ AND $timeFilter'
    )
    assert (mark["titleColumn"], mark["textColumn"], mark["tagsColumn"]) == (
        "cause",
        "text",
        "kind",
    )
    mark["query"] = 'SELECT "severity" FROM "alert_annotation" WHERE $timeFilter'
    with pytest.raises(ValueError, match="'severity' is not a tag or field of alert_annotation"):
        check_queries(board)


def test_provisioning_points_at_the_boards_and_the_datasource() -> None:
    datasource = yaml.safe_load(
        (ROOT / "dashboards/provisioning/datasources/linewatch.yaml").read_text()
    )["datasources"][0]
    assert datasource["type"] == "influxdb" and datasource["isDefault"] is True
    provider = yaml.safe_load(
        (ROOT / "dashboards/provisioning/dashboards/linewatch.yaml").read_text()
    )["providers"][0]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./dashboards/json:{provider['options']['path']}:ro" in mounts


def test_docker_compose_config_is_valid() -> None:
    result = subprocess.run(
        ["docker-compose", "config", "-q"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture
def grafana_receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A real HTTP server on 127.0.0.1 that answers Grafana's dashboard API and records it."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append(
                {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
            )
            uid = body["dashboard"]["uid"]
            status = 412 if uid == "refuse-me" else 200
            payload = (
                {"status": "success", "uid": uid, "version": 1}
                if status == 200
                else {"status": "version-mismatch", "message": "The dashboard has been changed"}
            )
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()


def test_push_sends_every_board_with_overwrite(grafana_receiver: tuple[str, list[Any]]) -> None:
    url, received = grafana_receiver
    assert push_boards(url, token="glsa_secret") == [
        "linewatch-spc",
        "linewatch-line",
        "linewatch-kpi",
        "linewatch-equipment",
        "linewatch-defect-forecast",
        "linewatch-pipeline",
    ]
    assert [r["path"] for r in received] == ["/api/dashboards/db"] * 6
    assert {r["auth"] for r in received} == {"Bearer glsa_secret"}
    assert received[0]["body"]["overwrite"] is True
    assert received[0]["body"]["dashboard"]["uid"] == "linewatch-spc"
    assert received[0]["body"]["dashboard"]["id"] is None


def test_a_refused_board_is_named(grafana_receiver: tuple[str, list[Any]]) -> None:
    url, _ = grafana_receiver
    board = {**spc_chart_board(), "uid": "refuse-me"}
    with pytest.raises(RuntimeError, match="board 'refuse-me' was refused"):
        push_boards(url, user="admin", password="admin", boards=[board])


def test_dashboards_build_command(tmp_path: Path) -> None:
    assert main(["dashboards", "build", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "linewatch-defect-forecast.json",
        "linewatch-equipment.json",
        "linewatch-kpi.json",
        "linewatch-line.json",
        "linewatch-pipeline.json",
        "linewatch-spc.json",
    ]


def _datasources(node: Any) -> Iterator[Any]:
    """Every value of a ``datasource`` key anywhere in a board."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                yield value
            yield from _datasources(value)
    elif isinstance(node, list):
        for item in node:
            yield from _datasources(item)


def test_every_board_takes_its_datasource_as_an_input() -> None:
    provisioned = yaml.safe_load(
        (ROOT / "dashboards/provisioning/datasources/linewatch.yaml").read_text()
    )["datasources"][0]["uid"]
    for board in all_boards():
        text = json.dumps(board)
        assert provisioned not in text, board["uid"]
        assert board["__inputs"] == [
            {
                "name": "DS_LINEWATCH",
                "label": "Linewatch InfluxDB",
                "description": "the InfluxDB that Linewatch's influx sink writes to",
                "type": "datasource",
                "pluginId": "influxdb",
                "pluginName": "InfluxDB",
            }
        ]
        first = board["templating"]["list"][0]
        assert (first["name"], first["type"], first["query"]) == (
            "DS_LINEWATCH",
            "datasource",
            "influxdb",
        )
        found = list(_datasources(board))
        targets = sum(len(p["targets"]) for p in board["panels"])
        # every panel, every target and every query variable names it
        annotations = len(board.get("annotations", {}).get("list", []))
        variables = len(board["templating"]["list"]) - 1  # the datasource variable has none
        assert len(found) == len(board["panels"]) + targets + variables + annotations
        assert DATASOURCE == {"type": "influxdb", "uid": "${DS_LINEWATCH}"}
        assert all(d == DATASOURCE for d in found)
        # Grafana's import substitutes the input everywhere: no other uid is left behind
        imported = json.loads(text.replace("${DS_LINEWATCH}", "plant-influx"))
        assert {d["uid"] for d in _datasources(imported)} == {"plant-influx"}


def _queries(board: dict[str, Any], panel: int) -> dict[str, str]:
    return {t["alias"] or t["refId"]: t["query"] for t in board["panels"][panel]["targets"]}


def test_spc_board_draws_zones_and_marks_violations_by_rule() -> None:
    board = spc_chart_board()
    where = (
        '"line" =~ /^$line$/ AND "station" =~ /^$station$/ AND '
        '"characteristic" =~ /^$characteristic$/ AND "chart" =~ /^$chart$/ AND $timeFilter'
    )
    queries = _queries(board, 0)
    assert queries["+1σ"] == f'SELECT "cl" + ("ucl" - "cl") / 3 FROM "spc_point" WHERE {where}'
    assert queries["-2σ"] == (
        f'SELECT "cl" - 2 * ("ucl" - "cl") / 3 FROM "spc_point" WHERE {where}'
    )
    assert queries["nelson5"] == (
        f'SELECT "value" FROM "spc_point" WHERE {where} AND "violations" =~ /(^|\\|)nelson5($|\\|)/'
    )
    assert list(queries) == [
        "statistic", "CL", "UCL", "LCL", "+1σ", "+2σ", "-1σ", "-2σ", *RULES
    ]  # fmt: skip
    assert len(RULES) == 12
    markers = board["panels"][0]["fieldConfig"]["overrides"][-1]
    assert {"id": "custom.drawStyle", "value": "points"} in markers["properties"]


def test_spc_board_shows_the_dispersion_chart_under_the_location_chart() -> None:
    board = spc_chart_board()
    location, dispersion = board["panels"][:2]
    assert 'AND "chart" =~ /^(range|stdev|moving_range)$/ AND' in _queries(board, 1)["statistic"]
    assert DISPERSION_CHARTS == ("range", "stdev", "moving_range")
    assert location["gridPos"]["y"] + location["gridPos"]["h"] == dispersion["gridPos"]["y"]
    chart = next(v for v in board["templating"]["list"] if v["name"] == "chart")
    assert chart["regex"] == "/^(?!(?:range|stdev|moving_range)$)/"
    keep = re.compile(chart["regex"].strip("/"))
    assert [c for c in ("xbar", "range", "individuals", "moving_range") if keep.match(c)] == [
        "xbar",
        "individuals",
    ]
    assert keep.groups == 0
    versions = board["panels"][2]
    assert (versions["type"], versions["targets"][0]["query"][:31]) == (
        "state-timeline",
        'SELECT "limits_version" FROM "s',
    )
    table = board["panels"][3]["targets"][0]["query"]
    assert table.startswith('SELECT "value", "violations", "zone", "limits_version"')
    assert "\"violations\" != ''" in table


def test_kpi_board_per_line_and_station() -> None:
    board = kpi_board()
    where = '"line" =~ /^$line$/ AND "station" =~ /^$station$/ AND $timeFilter'
    for number, kpi in enumerate(("fpy", "defect_rate", "rework_rate")):
        assert _queries(board, number) == {
            "$tag_line/$tag_station": f'SELECT "value" FROM "kpi" WHERE "kpi" = \'{kpi}\' AND '
            f'{where} GROUP BY "line", "station"'
        }
    assert _queries(board, 3) == {
        "A": 'SELECT sum("nonconforming") AS "nonconforming" FROM "attribute" '
        f'WHERE {where} GROUP BY "characteristic"'
    }
    assert board["panels"][3]["transformations"][1]["options"]["sort"] == [
        {"field": "nonconforming", "desc": True}
    ]
    assert _queries(board, 5)["$tag_station/$tag_characteristic"] == (
        f'SELECT "value" FROM "kpi" WHERE "kpi" = \'cpk\' AND {where} '
        'GROUP BY "station", "characteristic"'
    )
    line, station = board["templating"]["list"][1:]
    assert (line["multi"], station["multi"]) == (True, True)
    assert station["query"] == (
        'SHOW TAG VALUES FROM "kpi" WITH KEY = "station" WHERE "line" =~ /^$line$/'
    )


def test_a_zone_line_naming_a_missing_field_is_refused() -> None:
    board = spc_chart_board()
    board["panels"][0]["targets"][4]["query"] = (
        'SELECT "cl" + "sigma" FROM "spc_point" WHERE $timeFilter'
    )
    with pytest.raises(ValueError, match="'sigma' is not a tag or field of spc_point"):
        check_queries(board)


def test_model_boards_read_the_model_score_fields_and_forecast_charts() -> None:
    boards = {b["uid"]: b for b in all_boards()}
    health = [t["query"] for p in boards["linewatch-equipment"]["panels"] for t in p["targets"]]
    assert any('SELECT "threshold" FROM "model_score"' in q for q in health)
    assert any('"rule" =~ /^model:/' in q for q in health)
    forecast = boards["linewatch-defect-forecast"]
    queries = [t["query"] for p in forecast["panels"] for t in p["targets"]]
    assert any('mean("predicted_defect_p") FROM "model_score"' in q for q in queries)
    assert any('"chart" =~ /^forecast:/' in q and 'SELECT "ucl"' in q for q in queries)
