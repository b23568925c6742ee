"""The defect predictor's line stage on a real broker: 1 worker and 3 give the same predictions.

Four simulated lines (a welding station whose tip temperature drives porosity, and the final
inspection 300 s later) go to a 3-partition topic keyed by ``line/station``, so a line's two
stations sit in different partitions. Each run starts its workers (`linewatch run`, one
consumer group), waits until both of their groups (the input's and the line stage's) are
stable with every worker in them, then produces the same records to its own topic, in the
same order (so the same partitions and offsets). Half way through the 3-worker run one
worker that holds a line stage leaves (SIGTERM): both groups rebalance mid-stream and its
state moves through the changelogs. The model scores and the AUC/log-loss KPIs the workers
write must be the same, part for part and value for value.
"""

from __future__ import annotations

import heapq
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from kafka import KafkaAdminClient, KafkaProducer
from kafka.errors import KafkaError
from kafka.partitioner.default import murmur2
from pydantic import TypeAdapter

from linewatch.connectors.kafka import ensure_topics
from linewatch.connectors.simulator import Simulation
from linewatch.pipeline.job import simulated_records
from linewatch.pipeline.models import WireRecord
from tests.servers.kafka import KafkaBroker

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
LINES = ["L1", "L2", "L3", "L4"]
PARTITIONS = 3
MINUTES = 150  # 300 parts a line at a 30 s cycle: about 2,700 records in all


def simulation(line: str, seed: int) -> Simulation:
    return TypeAdapter(Simulation).validate_python(
        {
            "line": line,
            "cycle_s": 30,
            "seed": seed,
            "start": "2026-11-02T06:00:00Z",
            "stations": [
                {
                    "name": "weld",
                    "characteristics": [{"name": "nugget_dia_mm", "mean": 5.4, "sigma": 0.08}],
                    "parameters": [
                        {"equipment": "welder", "name": "tip_temp_c", "mean": 410.0, "sigma": 3.0}
                    ],
                },
                {
                    "name": "final",
                    "inspects": True,
                    "lot_size": 100,
                    "defects": [
                        {
                            "code": "porosity",
                            "base_rate": 0.08,
                            "driver": "weld/welder/tip_temp_c",
                            "sensitivity": 1.5,
                            "lag_s": 300,
                        }
                    ],
                },
            ],
            "faults": ["trend:weld/welder/tip_temp_c@60m+60m*4"],
        }
    )


def records() -> list[WireRecord]:
    streams: list[Iterator[WireRecord]] = []
    for number, line in enumerate(LINES):
        made, _ = simulated_records(simulation(line, seed=200 + number), MINUTES)
        streams.append(made)
    return list(heapq.merge(*streams, key=lambda r: r.ts))


def lines_config() -> list[dict[str, Any]]:
    predictor = {
        "type": "defect_predictor",
        "name": "porosity-risk",
        "features": ["welder/tip_temp_c"],
        "target": {"station": "final", "codes": ["porosity"]},
        "lr": 0.1,
        "warmup": 20,
        "kpi_every": 20,
        "cusum": {"warmup": 20, "k": 0.5, "h": 5},
    }
    return [
        {
            "name": line,
            "stations": [
                {
                    "name": "weld",
                    "parameters": [
                        {"equipment": "welder", "name": "tip_temp_c", "chart": "imr", "phase1": 50}
                    ],
                    "models": [predictor],
                },
                {"name": "final", "kpi_every_s": 900},
            ],
        }
        for line in LINES
    ]


def write_config(folder: Path, bootstrap: str, topic: str, group: str) -> Path:
    config = {
        "lines": lines_config(),
        "source": {
            "type": "kafka",
            "bootstrap": bootstrap,
            "topics": [topic],
            "group_id": group,
            "batch_size": 200,  # several batches and checkpoints, even for one worker
            "idle_exit_s": 8.0,
        },
        "sinks": [{"type": "jsonl", "path": "out.jsonl", "outputs": ["model_scores", "kpis"]}],
        "dead_letters": {"type": "jsonl", "path": "dlq.jsonl"},
        "checkpoint": {
            "every_records": 300,
            "every_seconds": 0.5,
            "changelog": {"type": "kafka", "bootstrap": bootstrap, "topic": f"{group}-state"},
        },
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def wait_stable(bootstrap: str, groups: list[str], members: int, timeout: float) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                described = admin.describe_groups(groups)
            except KafkaError:  # the coordinator is still being elected: ask again
                described = {}
            if described and all(
                _state(described[g]) == "Stable" and len(described[g]["members"]) == members
                for g in groups
            ):
                return
            assert time.monotonic() < deadline, f"groups not stable: {described}"
            time.sleep(0.3)
    finally:
        admin.close()


def _state(group: dict[str, Any]) -> Any:
    return group.get("group_state", group.get("state"))


def produce(bootstrap: str, topic: str, data: list[WireRecord]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    encode = msgspec.json.Encoder().encode
    for record in data:
        producer.send(topic, encode(record), key=record.stream_key.encode())
    producer.flush()
    producer.close()


def run_workers(
    bootstrap: str, data: list[WireRecord], folder: Path, workers: int, one_leaves: bool = False
) -> list[dict[str, Any]]:
    """Start ``workers``, produce ``data`` once they all joined, return what they wrote.

    ``one_leaves``: after the first half of the data, a worker that has written predictions
    stops (SIGTERM), so both groups rebalance mid-stream and its line stage moves.
    """
    topic, group = f"parts-{workers}w", f"line-stage-{workers}w"
    groups = [group, f"{group}-line"]
    ensure_topics(bootstrap, {topic: PARTITIONS})
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs, logs = [], []
    for number in range(workers):
        config = write_config(folder / f"w{number}", bootstrap, topic, group)
        log = config.parent / "worker.log"
        logs.append(log)
        with log.open("ab") as out:
            command = [sys.executable, "-m", "linewatch.pipeline.cli", "run", "--config"]
            procs.append(
                subprocess.Popen(
                    [*command, "config.yaml"],
                    cwd=config.parent,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
    outs = [folder / f"w{number}" / "out.jsonl" for number in range(workers)]
    stopped = None
    try:
        wait_stable(bootstrap, groups, workers, timeout=60)
        half = len(data) // 2 if one_leaves else len(data)
        produce(bootstrap, topic, data[:half])
        if one_leaves:
            deadline = time.monotonic() + 30
            while stopped is None:
                assert time.monotonic() < deadline, "no worker wrote a prediction"
                time.sleep(0.5)
                stopped = next(
                    (
                        n
                        for n, out in enumerate(outs)
                        if out.exists() and b"model_score" in out.read_bytes()
                    ),
                    None,
                )
            procs[stopped].send_signal(signal.SIGTERM)
            assert procs[stopped].wait(timeout=30) == 130, logs[stopped].read_text()[-3000:]
            wait_stable(bootstrap, groups, workers - 1, timeout=60)
            produce(bootstrap, topic, data[half:])
        for number, (proc, log) in enumerate(zip(procs, logs, strict=True)):
            if number != stopped:
                proc.wait(timeout=90)
                assert proc.returncode == 0, log.read_text()[-3000:]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    written = []
    for out in outs:
        lines = out.read_text().splitlines() if out.exists() else []
        written.append([msgspec.json.decode(line) for line in lines])
    return [{"worker": n, "items": items} for n, items in enumerate(written)]


def by_part(outputs: list[dict[str, Any]]) -> tuple[dict[tuple[Any, ...], Any], dict[Any, Any]]:
    """Scores by (line, model, ts) and KPIs by (line, kpi, parts learned); one value each."""
    scores: dict[tuple[Any, ...], Any] = {}
    kpis: dict[tuple[Any, ...], Any] = {}
    for worker in outputs:
        for item in worker["items"]:
            if item["type"] == "model_score":
                key = (item["line"], item["model"], item["ts"])
                value = (item["score"], item["predicted_defect_p"])
                assert scores.setdefault(key, value) == value, f"two scores for {key}"
            elif item["type"] == "kpi" and item["kpi"] in ("auc", "log_loss"):
                key = (item["line"], item["kpi"], item["window_n"])
                assert kpis.setdefault(key, item["value"]) == item["value"], key
    return scores, kpis


def test_one_and_three_workers_give_the_same_predictions(
    kafka_broker: KafkaBroker, tmp_path: Path
) -> None:
    data = records()
    assert 2000 < len(data) < 5000
    partition_of = {
        key: (murmur2(key.encode()) & 0x7FFFFFFF) % PARTITIONS
        for key in {r.stream_key for r in data}
    }
    assert set(partition_of.values()) == set(range(PARTITIONS))
    split = [
        line for line in LINES if partition_of[f"{line}/weld"] != partition_of[f"{line}/final"]
    ]
    assert split, "no line has its stations in different partitions"

    one = run_workers(kafka_broker.bootstrap, data, tmp_path / "one", 1)
    three = run_workers(kafka_broker.bootstrap, data, tmp_path / "three", 3, one_leaves=True)
    scores_one, kpis_one = by_part(one)
    scores_three, kpis_three = by_part(three)
    # Every line predicts, parts of every split line included, and the KPIs came.
    assert {line for line, _, _ in scores_one} == set(LINES)
    assert len(scores_one) > 800
    assert {line for line, _, _ in kpis_one} == set(LINES)
    assert scores_three == scores_one
    assert kpis_three == kpis_one
    # The line stage was shared: more than one of the three workers wrote predictions.
    assert sum(1 for w in three if any(i["type"] == "model_score" for i in w["items"])) >= 2
