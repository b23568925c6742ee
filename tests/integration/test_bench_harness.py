"""`make bench`'s harness in quick mode, against its own real Kafka broker and InfluxDB.

The harness (bench/harness.py) starts the servers the test tooling starts, runs every
contender in its own process (the Quix Streams rows in bench/.venv-quix, built here from
bench/requirements-quix.txt when missing, as `make bench` builds it) and writes
results.json. This checks that every section and figure is there and sane: the keys name
the contenders and the ratios, each throughput row is a median inside its min..max, the
ratios are the quotients of the rows, and the latency run saw alerts on both paths.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
QUIX_VENV = ROOT / "bench" / ".venv-quix"

pytestmark = pytest.mark.integration

ROWS = {
    "raw_confluent",
    "raw_confluent_decode",
    "raw_kafka_python",
    "raw_kafka_python_decode",
    "quix_pass",
    "quix_spc",
    "linewatch_kafka",
    "linewatch_kafka_per_record",
    "linewatch_influx",
}


def quix_python() -> Path:
    """The Quix venv's interpreter, made as the Makefile makes it if it is not there yet."""
    python = QUIX_VENV / "bin" / "python"
    if not (QUIX_VENV / ".installed").exists():
        subprocess.run([sys.executable, "-m", "venv", str(QUIX_VENV)], check=True)
        requirements = ROOT / "bench" / "requirements-quix.txt"
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "-r", str(requirements)],
            check=True,
            timeout=900,
        )
        (QUIX_VENV / ".installed").touch()
    return python


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    python = quix_python()
    out = tmp_path_factory.mktemp("bench") / "results.json"
    began = time.monotonic()
    harness = ROOT / "bench" / "harness.py"
    proc = subprocess.run(
        [sys.executable, str(harness), "--quick", "--out", str(out), "--quix-python", str(python)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Throughput: 12,000 records" in proc.stdout
    parsed: dict[str, Any] = json.loads(out.read_text())
    parsed["_wall_s"] = time.monotonic() - began
    return parsed


def test_the_throughput_rows_are_medians_within_their_spread(results: dict[str, Any]) -> None:
    assert results["quick"] is True
    assert results["records"] == 12_000
    assert set(results["throughput"]) == ROWS
    for key, row in results["throughput"].items():
        assert row["runs"] == results["repeats"] == 1, key
        assert 0 < row["min"] <= row["records_per_s"] <= row["max"], key
        assert row["cpu_us_per_record"] > 0, key


def test_the_ratios_are_the_quotients_of_the_rows(results: dict[str, Any]) -> None:
    rate = {k: v["records_per_s"] for k, v in results["throughput"].items()}
    ratios = results["ratios"]
    for key in ROWS:
        assert ratios[f"{key}_vs_raw_confluent"] == round(rate[key] / rate["raw_confluent"], 3)
    assert ratios["raw_confluent_vs_raw_confluent"] == 1.0
    assert results["vs_quix_spc"] == round(rate["linewatch_kafka"] / rate["quix_spc"], 3)
    assert results["vs_raw_confluent"] == ratios["linewatch_kafka_vs_raw_confluent"]
    assert ratios["lane_vs_per_record"] == round(
        rate["linewatch_kafka"] / rate["linewatch_kafka_per_record"], 3
    )
    # The two jobs did the SPC work: Quix signalled, Linewatch alerted.
    assert results["quix_spc_signals"] > 0
    assert results["linewatch_alerts"] > 0


def test_latency_scale_out_core_models_and_memory_are_reported(results: dict[str, Any]) -> None:
    assert set(results["latency"]) == {"default_10k", "batch_500_10k", "default_2k"}
    for name, lat in results["latency"].items():
        for path in ("to_alerts_topic", "to_webhook"):
            figure = lat[path]
            assert figure["count"] > 0, (name, path)
            assert 0 < figure["p50_ms"] <= figure["p99_ms"] <= figure["max_ms"], (name, path)
    scale = results["scale_out"]
    for workers in ("workers_1", "workers_2"):
        assert scale[workers]["records_per_s"] > 0
        assert scale[workers]["cpu_us_per_record_per_worker"] > 0
    assert scale["speedup_2_vs_1"] == round(
        scale["workers_2"]["records_per_s"] / scale["workers_1"]["records_per_s"], 2
    )
    core = results["detector_core"]
    assert core["exit_code"] == 0
    assert core["per_sample_samples_per_s"] > 0 and core["batch_samples_per_s"] > 0
    assert core["numpy_samples_per_s"] > core["per_sample_samples_per_s"]
    models = results["models"]
    assert models["vs_river_hst"] == pytest.approx(
        models["default_model_samples_per_s"] / models["river_hst_samples_per_s"], rel=0.01
    )
    memory = results["memory"]
    assert memory["characteristics"] == 500
    assert 0 < memory["state_bytes_per_characteristic"] < 65_536
    assert memory["rss_mb"] > 0
    assert results["versions"]["quixstreams"] == "3.28.1"
