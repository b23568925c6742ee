"""Grafana boards as code: in sync with the schema, provisioned, pushed over real HTTP."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from linewatch.dashboards.boards import DATASOURCE, all_boards, check_queries, spc_chart_board
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
    assert datasource["uid"] == DATASOURCE["uid"] and datasource["type"] == "influxdb"
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
        "linewatch-equipment",
        "linewatch-defect-forecast",
    ]
    assert [r["path"] for r in received] == ["/api/dashboards/db"] * 4
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
        "linewatch-line.json",
        "linewatch-spc.json",
    ]


def test_model_boards_read_the_model_score_fields_and_forecast_charts() -> None:
    boards = {b["uid"]: b for b in all_boards()}
    health = [t["query"] for p in boards["linewatch-equipment"]["panels"] for t in p["targets"]]
    assert any('SELECT "threshold" FROM "model_score"' in q for q in health)
    assert any('"rule" =~ /^model:/' in q for q in health)
    forecast = boards["linewatch-defect-forecast"]
    queries = [t["query"] for p in forecast["panels"] for t in p["targets"]]
    assert any('mean("predicted_defect_p") FROM "model_score"' in q for q in queries)
    assert any('"chart" =~ /^forecast:/' in q and 'SELECT "ucl"' in q for q in queries)
