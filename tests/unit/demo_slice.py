"""A short slice of the demo line and a config that writes every output kind to JSONL.

Shared by the resume and state-fuzz tests: real records, real detectors, a few seconds.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from linewatch.pipeline.config import load_config
from linewatch.pipeline.job import build_job

ROOT = Path(__file__).resolve().parents[2]
OUTPUTS = (
    "alerts.jsonl",
    "points.jsonl",
    "kpis.jsonl",
    "model-scores.jsonl",
    "dead-letters.jsonl",
)


def write_slice(folder: Path, records: int = 20_000) -> tuple[Path, Path]:
    """The first ``records`` demo records and a config for them; returns (input, config)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = gzip.decompress((ROOT / "examples" / "welding-line.jsonl.gz").read_bytes())
    data = b"\n".join(lines.splitlines()[:records]) + b"\n"
    path = folder / "slice.jsonl"
    path.write_bytes(data)
    config: dict[str, Any] = yaml.safe_load((ROOT / "examples" / "welding-line.yaml").read_text())
    config.pop("source")
    # A slice is a few hours: a phase I of 25 points (the demo's is 100) lets every chart
    # plot, and alert, within its first 2000 records.
    for line in config["lines"]:
        for station in line["stations"]:
            for stream in station.get("characteristics", []) + station.get("parameters", []):
                stream["phase1"] = 25
    config["sinks"] = [
        {"type": "jsonl", "path": "alerts.jsonl", "outputs": ["alerts"]},
        {"type": "jsonl", "path": "points.jsonl", "outputs": ["points"]},
        {"type": "jsonl", "path": "kpis.jsonl", "outputs": ["kpis"]},
        {"type": "jsonl", "path": "model-scores.jsonl", "outputs": ["model_scores"]},
    ]
    config["dead_letters"] = {"path": "dead-letters.jsonl"}
    config["checkpoint"] = {"every_records": 2000, "every_seconds": 1000}
    config_path = folder / "slice.yaml"
    config_path.write_text(yaml.safe_dump(config))
    return path, config_path


def run_in_process(
    folder: Path, input_path: Path, config_path: Path, stop_after: int | None = None
) -> int:
    """``run`` in this process from ``folder`` (the sinks' cwd); returns records read."""
    cwd = Path.cwd()
    os.chdir(folder)
    try:
        job = build_job(
            load_config(config_path), mode="run", input_path=input_path, state_dir=Path("state")
        )
        if stop_after is not None:

            def stop(summary: Any) -> None:
                if summary.records_read >= stop_after:
                    job.runner.request_stop()

            job.runner.on_batch = stop
        summary = job.run()
        job.finish()
        return summary.records_read
    finally:
        os.chdir(cwd)


def cli(folder: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m linewatch.pipeline.cli ARGS`` run from ``folder``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "linewatch.pipeline.cli", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def outputs(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in OUTPUTS if name != "dead-letters.jsonl"}
