"""Every board query runs on a real InfluxDB holding what a replay wrote, and finds it.

A small line is replayed with an influx sink (records, points, alerts, KPIs) into a real
InfluxDB 1.x on 127.0.0.1; then every target and variable query of every board is run
with Grafana's substitutions (``$timeFilter``, the template variables), so a query that
InfluxQL refuses fails here. The SPC board's zone lines, rule markers and dispersion
chart and the KPI board's yield, Pareto and Cpk are checked against hand-computed values.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from linewatch.dashboards.boards import all_boards
from linewatch.pipeline.cli import main
from tests.servers.influxdb import Influx1Server

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 23, 8, tzinfo=UTC)
CONFIG = """\
version: 1
lines:
  - name: L1
    stations:
      - name: press
        characteristics:
          - {{name: height_mm, chart: imr, limits: {{center: 10.0, sigma: 1.0}},
             lsl: 6.0, usl: 14.0, capability: {{window: 4}}}}
          - {{name: width_mm, chart: xbar-r, subgroup_size: 2, phase1: 3}}
      - name: final
        kpi_window_s: 3600
        kpi_every_s: 60
        characteristics:
          - {{name: crack, chart: p, limits: {{center: 0.1}}}}
          - {{name: porosity, chart: p, limits: {{center: 0.1}}}}
sinks:
  - {{type: influx, url: "influx://127.0.0.1:{port}/plant?api=v1", spool_dir: {spool},
     outputs: [records, alerts, points, kpis]}}
dead_letters:
  path: dead.jsonl
"""


def _records() -> list[dict[str, Any]]:
    def at(seconds: int) -> str:
        return (T0 + timedelta(seconds=seconds)).isoformat()

    common = {"line": "L1"}
    records: list[dict[str, Any]] = []
    for i, value in enumerate([10.0, 11.0, 13.5, 9.0]):  # 13.5: beyond UCL 13 (nelson1)
        records.append(
            {"kind": "measurement", "ts": at(i), **common, "station": "press",
             "characteristic": "height_mm", "value": value}
        )  # fmt: skip
    for i, value in enumerate([5.0, 5.2, 5.1, 5.1, 4.9, 5.3, 5.0, 5.4]):
        records.append(
            {"kind": "measurement", "ts": at(10 + i), **common, "station": "press",
             "characteristic": "width_mm", "value": value, "subgroup": f"SG{i // 2}"}
        )  # fmt: skip
    for i in range(10):  # 7 pass, 2 fail, 1 reworked pass, a minute apart
        result = "fail" if i in (3, 7) else "pass"
        records.append(
            {"kind": "inspection", "ts": at(60 * i), **common, "station": "final",
             "part_id": f"P{i}", "result": result, "rework": i == 5,
             "defects": 1 if result == "fail" else 0}
        )  # fmt: skip
    for i, (crack, porosity) in enumerate([(1, 3), (0, 4), (2, 5)]):
        for code, count in (("crack", crack), ("porosity", porosity)):
            records.append(
                {"kind": "attribute", "ts": at(100 + i), **common, "station": "final",
                 "characteristic": code, "inspected": 20, "nonconforming": count}
            )  # fmt: skip
    records.sort(key=lambda r: str(r["ts"]))
    return records


def _substitute(query: str, values: dict[str, str]) -> str:
    query = query.replace("$timeFilter", "time >= 0").replace("$__interval", "1m")
    return re.sub(r"\$(\w+)", lambda m: values.get(m.group(1), m.group(0)), query)


@pytest.fixture(scope="module")
def plant(influx1_server: Influx1Server, tmp_path_factory: pytest.TempPathFactory) -> Influx1Server:
    folder = tmp_path_factory.mktemp("boards")
    influx1_server.create_database("plant")
    config = folder / "plant.yaml"
    config.write_text(CONFIG.format(port=influx1_server.port, spool=folder / "spool"))
    data = folder / "line.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in _records()))
    out = str(folder / "o")
    code = main(
        ["replay", "--config", str(config), "--input", str(data), "--out", out, "--no-progress"]
    )
    assert code == 0
    return influx1_server


def _rows(server: Influx1Server, query: str, **values: str) -> list[dict[str, Any]]:
    return server.select(_substitute(query, values), "plant")


SPC = {"line": "L1", "station": "press", "characteristic": "height_mm", "chart": "individuals"}


def test_every_board_query_runs(plant: Influx1Server) -> None:
    # the variables as Grafana fills them in (a multi-value one becomes (a|b) in a regex)
    values = {**SPC, "station": "(press|final)"}
    for board in all_boards():
        queries = [t["query"] for p in board["panels"] for t in p["targets"]]
        queries += [v["query"] for v in board["templating"]["list"] if v["type"] == "query"]
        for query in queries:
            plant.query(_substitute(query, values), "plant")  # raises on any error


def _panel(uid: str, number: int) -> dict[str, str]:
    board = next(b for b in all_boards() if b["uid"] == uid)
    return {t["alias"] or t["refId"]: t["query"] for t in board["panels"][number]["targets"]}


def test_spc_board_zone_lines_and_rule_markers(plant: Influx1Server) -> None:
    location = _panel("linewatch-spc", 0)
    statistic = [r["value"] for r in _rows(plant, location["statistic"], **SPC)]
    assert statistic == [10.0, 11.0, 13.5, 9.0]
    for name, level in (("+1σ", 11.0), ("+2σ", 12.0), ("-1σ", 9.0), ("-2σ", 8.0)):
        rows = _rows(plant, location[name], **SPC)
        assert [
            next(v for k, v in r.items() if k not in ("time", "_measurement")) for r in rows
        ] == (pytest.approx([level] * 4)), name
    assert [r["value"] for r in _rows(plant, location["nelson1"], **SPC)] == [13.5]
    assert _rows(plant, location["nelson2"], **SPC) == []
    dispersion = _panel("linewatch-spc", 1)
    moving_ranges = [r["value"] for r in _rows(plant, dispersion["statistic"], **SPC)]
    assert moving_ranges == [1.0, 2.5, 4.5]
    assert [r["value"] for r in _rows(plant, dispersion["nelson1"], **SPC)] == [4.5]
    width = {**SPC, "characteristic": "width_mm", "chart": "xbar"}
    ranges = [round(r["value"], 6) for r in _rows(plant, dispersion["statistic"], **width)]
    assert ranges == [0.2, 0.0, 0.4, 0.4]  # |5.0-5.2|, |5.1-5.1|, |4.9-5.3|, |5.0-5.4|
    violations = _panel("linewatch-spc", 3)["A"]
    rows = _rows(plant, violations, **SPC)  # both charts of the characteristic
    assert sorted((r["chart"], r["value"], r["violations"], r["zone"]) for r in rows) == [
        ("individuals", 13.5, "nelson1", "beyond"),
        ("moving_range", 4.5, "nelson1", "beyond"),
    ]
    versions = _panel("linewatch-spc", 2)["limits version"]
    assert {r["limits_version"] for r in _rows(plant, versions, **SPC)} == {1}


def test_kpi_board_yield_pareto_and_cpk(plant: Influx1Server) -> None:
    where = {"line": "L1", "station": "(press|final)"}
    fpy = _rows(plant, _panel("linewatch-kpi", 0)["$tag_line/$tag_station"], **where)
    # emitted at each inspection a minute after the last emission: the window's share of
    # parts that passed without rework (the first inspection starts the clock)
    assert [round(r["value"], 6) for r in fpy] == [
        1.0, 1.0, 0.75, 0.8, round(4 / 6, 6), round(5 / 7, 6), 0.625, round(6 / 9, 6), 0.7
    ]  # fmt: skip
    pareto = _rows(plant, _panel("linewatch-kpi", 3)["A"], **where)
    assert {r["characteristic"]: r["nonconforming"] for r in pareto} == {
        "crack": 3,
        "porosity": 12,
    }
    cpk = _rows(plant, _panel("linewatch-kpi", 5)["$tag_station/$tag_characteristic"], **where)
    assert [r["characteristic"] for r in cpk] == ["height_mm"]
    # mean 10.875, sigma MR-bar/d2 = (8/3)/1.128: Cpk = (14 - 10.875) / 3 sigma
    assert [r["value"] for r in cpk] == [pytest.approx(3.125 * 1.128 / 8)]
