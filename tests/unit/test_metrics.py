"""`run`'s /metrics and /healthz over real HTTP on 127.0.0.1, and the JSON logs.

The file run's figures are checked against what the run wrote (the alerts JSONL, the
points JSONL) and against the bad lines put into the input by hand.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from linewatch.connectors.influxdb import InfluxSink
from linewatch.connectors.memory import IterableSource, ListSink
from linewatch.pipeline.cli import main
from linewatch.pipeline.config import load_config, parse_config
from linewatch.pipeline.engine import Engine
from linewatch.pipeline.job import build_job
from linewatch.pipeline.metrics import (
    EXPORTED,
    INSTALL_HINT,
    PipelineMetrics,
    import_prometheus,
)
from linewatch.pipeline.metrics_http import start_metrics
from linewatch.pipeline.models import Kpi
from linewatch.pipeline.runner import Route, Runner
from tests.unit.demo_slice import ROOT, write_slice

GOOD = 5000
#: Lines put into the slice, and the reason class each must be counted under.
BAD_LINES = [
    (b'{"kind": "parameter", "ts": ', "malformed"),
    (b"not json at all", "malformed"),
    (b'{"kind":"parameter","ts":"2026-11-23T08:00:00Z"}', "invalid"),
]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a /metrics page by (name, sorted labels)."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def by_label(
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str
) -> dict[tuple[str, ...], float]:
    return {tuple(v for _, v in labels): value for (n, labels), value in found.items() if n == name}


def lines_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def bad_slice(tmp_path: Path) -> tuple[Path, Path]:
    """The demo slice with three undecodable lines and one late record put in."""
    input_path, config_path = write_slice(tmp_path, GOOD)
    lines = input_path.read_bytes().splitlines()
    late = json.loads(lines[2999])
    late["ts"] = "2026-11-01T09:07:05Z"  # a day before its station's records
    lines.insert(3000, json.dumps(late).encode())
    for offset, (line, _) in enumerate(BAD_LINES):
        lines.insert(100 + 1000 * offset, line)
    input_path.write_bytes(b"\n".join(lines) + b"\n")
    return input_path, config_path


def test_a_file_run_reports_its_exact_figures(
    bad_slice: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    input_path, config_path = bad_slice
    monkeypatch.chdir(tmp_path)
    job = build_job(load_config(config_path), mode="run", input_path=input_path)
    server = start_metrics(job.runner, port=0)
    try:
        assert server.port > 0
        summary = job.run()
        status, text = get(f"{server.url}/metrics")
        assert status == 200
        health_status, health = get(f"{server.url}/healthz")
        server.metrics.stop()
        ended_status, ended = get(f"{server.url}/healthz")
        missing, _ = get(f"{server.url}/nothing")
    finally:
        server.close()
        job.finish()
    found = samples(text)
    for name, labels in found:  # every sample is in the catalogue, with its labels
        assert tuple(sorted(EXPORTED[name])) == tuple(label for label, _ in labels), name
    families = {family.name for family in server.metrics.registry.collect()}
    assert families == {name.removesuffix("_total") for name in EXPORTED}
    assert found[("linewatch_records_in_total", ())] == GOOD + len(BAD_LINES) + 1
    assert found[("linewatch_records_processed_total", ())] == GOOD
    expected_dead = Counter(reason for _, reason in BAD_LINES) + Counter(late_record=1)
    assert by_label(found, "linewatch_dead_letters_total") == {
        (reason,): n for reason, n in expected_dead.items()
    }
    assert len(lines_of(tmp_path / "dead-letters.jsonl")) == 4
    alerts = lines_of(tmp_path / "alerts.jsonl")
    assert len(alerts) == 4  # the slice's alert messages (firing and resolved)
    in_file = Counter((a["severity"], a["status"]) for a in alerts)
    assert by_label(found, "linewatch_alerts_total") == dict(in_file)
    outputs = by_label(found, "linewatch_records_out_total")
    assert outputs[("alerts",)] == 4
    assert outputs[("points",)] == len(lines_of(tmp_path / "points.jsonl"))
    assert outputs[("kpis",)] == len(lines_of(tmp_path / "kpis.jsonl"))
    assert found[("linewatch_checkpoints_total", ())] == summary.checkpoints >= 2
    assert found[("linewatch_rebalances_total", ())] == 0
    assert by_label(found, "linewatch_consumer_lag") == {}  # a file has no partitions
    assert found[("linewatch_healthy", ())] == 1
    assert health_status == 200
    assert json.loads(health)["status"] == "ok"
    assert json.loads(health)["records_since_checkpoint"] == 0
    assert ended_status == 503
    assert json.loads(ended) == {
        **json.loads(ended),
        "status": "unhealthy",
        "reason": "the run loop has ended",
    }
    assert missing == 404


def test_two_jobs_in_one_process_keep_their_own_counters(tmp_path: Path) -> None:
    config = parse_config(yaml.safe_load((ROOT / "examples" / "welding-line.yaml").read_text()))
    figures = []
    for records in (3, 7):
        payloads = [
            b'{"kind":"parameter","ts":"2026-11-23T08:00:00Z"}' for _ in range(records)
        ]  # all invalid: dead letters only
        runner = Runner(Engine(config), IterableSource(payloads), [], ListSink())
        metrics = PipelineMetrics(runner)
        runner.run()
        text = import_prometheus().generate_latest(metrics.registry).decode()
        figures.append(samples(text))
    assert [f[("linewatch_records_in_total", ())] for f in figures] == [3, 7]
    assert [f[("linewatch_dead_letters_total", (("reason", "invalid"),))] for f in figures] == [
        3,
        7,
    ]


def test_backpressure_waits_are_counted_per_sink() -> None:
    config = parse_config(yaml.safe_load((ROOT / "examples" / "welding-line.yaml").read_text()))
    slow, fine = ListSink(refuse_flushes=3, retry_after=0.0), ListSink()
    routes = [Route(slow, frozenset({"alerts"}), "sinks[0]"), Route(fine, frozenset(), "sinks[1]")]
    runner = Runner(Engine(config), IterableSource([]), routes, ListSink(refuse_flushes=1))
    metrics = PipelineMetrics(runner)
    runner.run()
    found = samples(import_prometheus().generate_latest(metrics.registry).decode())
    assert by_label(found, "linewatch_sink_backpressure_waits_total") == {
        ("sinks[0]",): 3,
        ("dead_letters",): 1,
    }


def test_spooled_batches_and_lines_per_sink(tmp_path: Path) -> None:
    """An InfluxDB sink whose server is away spools: the gauges say how much, per sink."""
    with socket.socket() as probe:  # a port nobody listens on: refused at once
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    influx = InfluxSink(
        url, "lw", api="v1", spool_dir=tmp_path, check=False, batch_size=2, retry_for_s=0.0
    )
    config = parse_config(yaml.safe_load((ROOT / "examples" / "welding-line.yaml").read_text()))
    routes = [Route(influx, frozenset({"kpis"}), "sinks[0]")]
    runner = Runner(Engine(config), IterableSource([]), routes, ListSink())
    metrics = PipelineMetrics(runner)
    ts = datetime(2026, 11, 2, 6, tzinfo=UTC)
    for n in range(5):
        influx.add(Kpi(ts=ts, line="L3", station="final", kpi="fpy", value=n / 10, window_s=60))
    influx.flush()  # 2 + 2 + 1 lines, spooled
    metrics.sample()
    found = samples(import_prometheus().generate_latest(metrics.registry).decode())
    assert by_label(found, "linewatch_sink_spool_batches") == {("sinks[0]",): 3}
    assert by_label(found, "linewatch_sink_spool_lines") == {("sinks[0]",): 5}
    influx.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_healthz_states() -> None:
    config = parse_config(yaml.safe_load((ROOT / "examples" / "welding-line.yaml").read_text()))
    runner = Runner(
        Engine(config), IterableSource([]), [], ListSink(), checkpoint_every_seconds=5.0
    )
    clock = Clock()
    metrics = PipelineMetrics(runner, stale_after_s=10.0, clock=clock)

    def state() -> tuple[bool, str | None]:
        health = metrics.health()
        return health.ok, health.body.get("reason")

    assert state() == (True, None)
    runner.summary.records_read = 100
    clock.now += 3
    metrics.on_batch(runner.summary)
    assert state() == (True, None)  # 100 records wait 3 s: within 5 + 10 s
    clock.now += 13
    metrics.on_batch(runner.summary)
    assert state() == (
        False,
        "100 records have waited 16.0 s for a checkpoint (more than 15 s)",
    )
    metrics.checkpointed()
    assert state() == (True, None)
    assert metrics.health().body["records_since_checkpoint"] == 0
    clock.now += 11  # no batch for 11 s
    assert state() == (
        False,
        "the run loop has not finished a batch for 11.0 s (more than 10 s)",
    )
    found = samples(import_prometheus().generate_latest(metrics.registry).decode())
    assert found[("linewatch_checkpoint_age_seconds", ())] == 11.0
    assert found[("linewatch_healthy", ())] == 0
    clock.now -= 5  # a batch 6 s after the checkpoint, no records since: healthy again
    metrics.on_batch(runner.summary)
    assert state() == (True, None)
    metrics.stop()
    assert state() == (False, "the run loop has ended")


def test_without_prometheus_client_the_run_stops_with_the_install_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    input_path, config_path = write_slice(tmp_path, 10)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with pytest.raises(ImportError, match=r"pip install 'linewatch\[metrics\]'"):
        import_prometheus()
    code = main(
        ["run", "--config", str(config_path), "--input", str(input_path), "--metrics-port", "0"]
    )
    assert code == 1
    assert capsys.readouterr().err.strip().splitlines() == [f"error: {INSTALL_HINT}"]


def test_a_bad_metrics_port_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["run", "--config", "x.yaml", "--metrics-port", "70000"])
    assert stop.value.code == 2
    assert "'70000' is not a port (0 to 65535)" in capsys.readouterr().err


def test_the_cli_serves_metrics_and_health_and_logs_json_lines(tmp_path: Path) -> None:
    """`run --metrics-port 0 --log-format json` on an endless simulator, stopped by SIGTERM."""
    config: dict[str, Any] = yaml.safe_load((ROOT / "examples" / "welding-line.yaml").read_text())
    config["source"] = {"type": "simulator", "minutes": 500_000, "batch_size": 500}
    config["sinks"] = [{"type": "jsonl", "path": "alerts.jsonl", "outputs": ["alerts"]}]
    config["checkpoint"] = {"every_records": 5000, "every_seconds": 1}
    config["metrics"] = {"port": 1, "stale_after_s": 30}  # --metrics-port wins
    config_path = tmp_path / "sim.yaml"
    config_path.write_text(yaml.safe_dump(config))
    command = ["run", "--config", str(config_path), "--metrics-port", "0", "--log-format", "json"]
    process = subprocess.Popen(
        [sys.executable, "-m", "linewatch.pipeline.cli", *command],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    try:
        url = None
        for line in process.stderr:  # the CLI names the port it got
            if line.startswith("metrics: "):
                url = line.removeprefix("metrics: ").strip().removesuffix("/metrics")
                break
        assert url is not None and url.startswith("http://127.0.0.1:")
        deadline = time.monotonic() + 60
        records = 0.0
        while records < 5000 and time.monotonic() < deadline:
            records = samples(get(f"{url}/metrics")[1])[("linewatch_records_in_total", ())]
        assert records >= 5000
        status, body = get(f"{url}/healthz")
        assert status == 200, body
        assert json.loads(body)["status"] == "ok"
    finally:
        process.send_signal(signal.SIGTERM)
        rest = process.stderr.read()
        code = process.wait(timeout=60)
    assert code == 130
    logs = [json.loads(line) for line in rest.splitlines() if line.startswith("{")]
    assert logs, rest
    for entry in logs:
        assert {"ts", "level", "logger", "message"} <= set(entry)
        assert datetime.fromisoformat(entry["ts"]).utcoffset() is not None
    ended = [entry for entry in logs if entry["message"] == "run ended"]
    assert len(ended) == 1
    assert ended[0]["level"] == "INFO" and ended[0]["logger"] == "linewatch.run"
    assert ended[0]["exit_code"] == 130 and ended[0]["records_read"] >= records
