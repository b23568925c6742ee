"""The command line as a user runs it: simulate → replay, run with SIGTERM and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from linewatch.pipeline.cli import main

ROOT = Path(__file__).resolve().parents[2]
CONFIG = """\
lines:
  - name: L1
    stations:
      - name: press
        characteristics:
          - {name: height_mm, chart: imr, phase1: 30}
source: {type: simulator, minutes: 100000, batch_size: 200}
sinks:
  - {type: jsonl, path: alerts.jsonl, outputs: [alerts]}
  - {type: jsonl, path: points.jsonl, outputs: [points]}
dead_letters: {path: dead.jsonl}
checkpoint: {every_records: 500, every_seconds: 0.5}
simulation:
  line: L1
  cycle_s: 60
  seed: 7
  start: "2026-11-02T06:00:00Z"
  stations:
    - name: press
      characteristics:
        - {name: height_mm, mean: 20.0, sigma: 0.1}
"""


def saved_checkpoint(state: Path) -> dict[str, Any]:
    """The body of a checkpoint file (its second line; the first is the checksum header)."""
    body: dict[str, Any] = json.loads((state / "checkpoint.json").read_bytes().split(b"\n", 1)[1])
    return body


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "press.yaml"
    path.write_text(CONFIG)
    return path


def test_simulate_then_replay_finds_the_injected_shift(tmp_path: Path, config: Path) -> None:
    line = tmp_path / "press.jsonl"
    assert (
        main(
            [
                "simulate",
                "--config",
                str(config),
                "--minutes",
                "600",
                "--no-progress",
                "--fault",
                "shift:press/height_mm@300m+120m*4",
                "--out",
                str(line),
            ]
        )
        == 0
    )
    assert len(line.read_text().splitlines()) == 600
    truth = json.loads((tmp_path / "press.truth.json").read_text())
    assert [(t["kind"], t["start"], t["end"]) for t in truth] == [
        ("shift", "2026-11-02T11:00:00+00:00", "2026-11-02T13:00:00+00:00")
    ]

    out = tmp_path / "out"
    assert (
        main(
            [
                "replay",
                "--config",
                str(config),
                "--input",
                str(line),
                "--out",
                str(out),
                "--truth",
                str(tmp_path / "press.truth.json"),
                "--no-progress",
            ]
        )
        == 0
    )
    alerts = [json.loads(a) for a in (out / "alerts.jsonl").read_text().splitlines()]
    firing = [a for a in alerts if a["status"] == "firing"]
    in_window = [a for a in firing if "2026-11-02T11:00" <= a["starts_at"] < "2026-11-02T13:00"]
    assert in_window and in_window[0]["rule"] == "nelson1"
    assert in_window[0]["starts_at"] < "2026-11-02T11:05"  # a 4-sigma shift is caught at once
    report = (out / "report.md").read_text()
    assert "| shift | press/height_mm |" in report and "| yes |" in report


def test_replay_of_a_missing_file_fails_with_a_clear_message(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "replay",
            "--config",
            str(config),
            "--input",
            str(tmp_path / "nope.jsonl"),
            "--out",
            str(tmp_path / "o"),
            "--no-progress",
        ]
    )
    assert code == 1
    assert "cannot open the input" in capsys.readouterr().err


def test_bad_fault_spec_is_refused(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "simulate",
            "--config",
            str(config),
            "--minutes",
            "5",
            "--no-progress",
            "--fault",
            "shift:press/nothing@1m+1m",
            "--out",
            str(tmp_path / "x.jsonl"),
        ]
    )
    assert code == 1
    assert "press/nothing" in capsys.readouterr().err


def test_sigterm_checkpoints_and_a_second_run_resumes(tmp_path: Path, config: Path) -> None:
    state = tmp_path / "state"
    command = [
        sys.executable,
        "-m",
        "linewatch.pipeline.cli",
        "run",
        "--config",
        str(config),
        "--state-dir",
        str(state),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    # The run saves a checkpoint before its first record; wait for one with progress.
    while time.monotonic() < deadline and not (
        (state / "checkpoint.json").exists() and saved_checkpoint(state)["source"]["records"]
    ):
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "SIGTERM: stopping" in stderr
    first = saved_checkpoint(state)
    done = first["source"]["records"]
    assert done > 0
    points = (tmp_path / "points.jsonl").read_text().splitlines()
    # Everything processed before the stop was flushed: one individuals and one MR point
    # per record after phase I, at most.
    assert len(points) >= done - 30

    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        current = saved_checkpoint(state)
        if current["source"]["records"] > done:
            break
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert f"resuming from checkpoint: {{'name': 'simulator', 'records': {done}}}" in stderr
    assert saved_checkpoint(state)["source"]["records"] > done
