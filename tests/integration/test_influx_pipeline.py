"""The CLI with a real InfluxDB: store a line as it is charted, then diagnose it by replay.

A simulated line is replayed once with an Influx sink that keeps the raw records and
the outputs; `linewatch replay --from influx://...` then reads the same time range back
and must raise exactly the alerts the first pass raised.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from linewatch.pipeline.cli import main
from tests.servers.influxdb import Influx11Server

pytestmark = pytest.mark.integration

LINES = {
    "name": "L1",
    "stations": [
        {
            "name": "press",
            "characteristics": [{"name": "height_mm", "chart": "imr", "phase1": 30}],
            "parameters": [
                {
                    "equipment": "ram",
                    "name": "force_kn",
                    "chart": "xbar-s",
                    "subgroup_size": 5,
                    "phase1": 20,
                }
            ],
        },
        {"name": "final"},
    ],
}
SIMULATION = {
    "line": "L1",
    "cycle_s": 60,
    "seed": 11,
    "start": "2026-11-02T06:00:00Z",
    "stations": [
        {
            "name": "press",
            "characteristics": [{"name": "height_mm", "mean": 20.0, "sigma": 0.1}],
            "parameters": [{"equipment": "ram", "name": "force_kn", "mean": 80.0, "sigma": 1.0}],
        },
        {"name": "final", "inspects": True, "defects": [{"code": "crack", "base_rate": 0.02}]},
    ],
}


def write_config(path: Path, **extra: object) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "lines": [LINES],
                "simulation": SIMULATION,
                "dead_letters": {"path": "dead.jsonl"},
                **extra,
            }
        )
    )
    return path


def alerts_of(folder: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (folder / "alerts.jsonl").read_text().splitlines()]


def test_store_then_replay_from_influx_gives_the_same_alerts(
    influx11_server: Influx11Server, tmp_path: Path
) -> None:
    influx11_server.create_database("plant")
    url = f"influx://127.0.0.1:{influx11_server.port}/plant?api=v2"
    simulated = tmp_path / "line.jsonl"
    simulate = write_config(tmp_path / "simulate.yaml")
    assert (
        main(
            [
                "simulate",
                "--config",
                str(simulate),
                "--minutes",
                "480",
                "--no-progress",
                "--fault",
                "shift:press/height_mm@240m+60m*4",
                "--out",
                str(simulated),
            ]
        )
        == 0
    )
    records = simulated.read_text().splitlines()

    store = write_config(
        tmp_path / "store.yaml",
        sinks=[
            {"type": "jsonl", "path": "alerts.jsonl", "outputs": ["alerts"]},
            {
                "type": "influx",
                "url": url,
                "outputs": ["records", "alerts", "points", "kpis"],
                "spool_dir": str(tmp_path / "spool"),
            },
        ],
    )
    first = tmp_path / "first"
    assert (
        main(
            [
                "replay",
                "--config",
                str(store),
                "--input",
                str(simulated),
                "--out",
                str(first),
                "--no-progress",
            ]
        )
        == 0
    )
    stored = alerts_of(first)
    assert any(a["status"] == "firing" and a["chart"] == "individuals" for a in stored)

    # Every raw record is in InfluxDB, one point each.
    counts = {
        m: influx11_server.select(f'SELECT count(*) FROM "{m}"', "plant")
        for m in ("process_param", "measurement", "inspection")
    }
    kinds = [json.loads(r)["kind"] for r in records]
    assert counts["process_param"][0]["count_value"] == kinds.count("parameter")
    assert counts["measurement"][0]["count_value"] == kinds.count("measurement")
    assert counts["inspection"][0]["count_defects"] == kinds.count("inspection")
    alert_rows = influx11_server.select('SELECT count("alert_id") FROM "spc_alert"', "plant")
    assert alert_rows[0]["count"] == len(stored)

    diagnose = write_config(
        tmp_path / "diagnose.yaml",
        sinks=[{"type": "jsonl", "path": "alerts.jsonl", "outputs": ["alerts"]}],
    )
    second = tmp_path / "second"
    assert (
        main(
            [
                "replay",
                "--config",
                str(diagnose),
                "--from",
                url,
                "--start",
                "2026-11-02T06:00:00Z",
                "--stop",
                "2026-11-02T14:00:00Z",
                "--out",
                str(second),
                "--no-progress",
            ]
        )
        == 0
    )
    assert alerts_of(second) == stored
    assert "| records read |" in (second / "report.md").read_text()


def test_a_wrong_database_fails_at_start_naming_it(
    influx11_server: Influx11Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"influx://127.0.0.1:{influx11_server.port}/no_such_db?api=v2"
    config = write_config(tmp_path / "bad.yaml", sinks=[{"type": "influx", "url": url}])
    code = main(
        [
            "replay",
            "--config",
            str(config),
            "--input",
            str(tmp_path / "x.jsonl"),
            "--out",
            str(tmp_path / "o"),
            "--no-progress",
        ]
    )
    assert code == 1
    error = capsys.readouterr().err
    assert "InfluxDB sink" in error and "no_such_db" in error and "database not found" in error
