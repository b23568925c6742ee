"""Notifications per day on the demo line, per policy, against alerts per day.

The real pipeline: ``linewatch replay --notify --notify-clock event`` of
``examples/welding-line.jsonl.gz`` (notifications timed as the live line would have had
them) to a webhook receiver on 127.0.0.1 that counts what it gets. The README's table in
"Notifications" comes from here::

    PYTHONPATH=$PWD python bench/bench_notifications.py
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from linewatch.connectors.testing.webhook import WebhookReceiver
from linewatch.pipeline.cli import main

ROOT = Path(__file__).resolve().parents[1]
LINE = ROOT / "examples" / "welding-line.jsonl.gz"
ALERTMANAGER_TIMING = {"group_by": ["line", "station"], "group_interval": "5m"}
POLICIES: dict[str, tuple[dict[str, Any], bool]] = {
    "default (group_by [line], 30 s wait, 30 min interval, 12 h repeat)": ({}, True),
    "default, send_resolved: false": ({}, False),
    "Alertmanager's timings, group_by [line, station], 5 min, 4 h": (
        {**ALERTMANAGER_TIMING, "repeat_interval": "4h"},
        True,
    ),
    "the same, send_resolved: false": ({**ALERTMANAGER_TIMING, "repeat_interval": "4h"}, False),
}


def days_of_records() -> float:
    with gzip.open(LINE, "rt") as source:
        times = [datetime.fromisoformat(json.loads(line)["ts"]) for line in source]
    return (max(times) - min(times)).total_seconds() / 86400


def count(folder: Path, route: dict[str, Any], send_resolved: bool) -> tuple[int, int]:
    """(notifications, alerts fired) of one replay."""
    with WebhookReceiver() as hook:
        config = yaml.safe_load((ROOT / "examples" / "welding-line.yaml").read_text())
        config["sinks"] = [{"type": "jsonl", "path": "alerts.jsonl"}]
        receiver = {"name": "lead", "type": "webhook", "url": hook.url}
        config["notifications"] = {
            "receivers": [{**receiver, "send_resolved": send_resolved}],
            "route": {"receiver": "lead", **route},
            "state_dir": str(folder / "notify"),
            "silences_path": str(folder / "silences.json"),
            "delivery": {"spool_dir": str(folder / "spool")},
        }
        path = folder / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        replay = ["replay", "--config", str(path), "--input", str(LINE)]
        replay += ["--out", str(folder / "out"), "--no-progress"]
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            code = main([*replay, "--notify", "--notify-clock", "event"])
        if code != 0:
            raise SystemExit(f"replay failed with exit code {code}")
        notifications = len(hook.received)
    alerts = (folder / "out" / "alerts.jsonl").read_text().splitlines()
    return notifications, sum(json.loads(a)["status"] == "firing" for a in alerts)


def main_bench() -> None:
    days = days_of_records()
    print(f"demo line: {days:.2f} days of records")
    print("| policy | notifications | per day |\n|---|---:|---:|")
    for name, (route, send_resolved) in POLICIES.items():
        with tempfile.TemporaryDirectory() as folder:
            notifications, alerts = count(Path(folder), route, send_resolved)
        print(f"| {name} | {notifications} | {notifications / days:.1f} |")
    print(f"| alerts fired | {alerts} | {alerts / days:.1f} |")


if __name__ == "__main__":
    main_bench()
