"""Forwarder and line stage without a broker: the stage's outputs do not depend on how many
stage-1 workers forwarded, how their flushes interleaved, or a hand-over of its state.

A fake producer client appends to an in-memory repartition topic (per partition, in send
order, as an idempotent producer keeps it); a fake consumer hands the stage that topic's
messages in randomly sized chunks from random partitions, as a group consumer may.
"""

from __future__ import annotations

import heapq
import random
import zlib
from typing import Any

import msgspec
from pydantic import TypeAdapter

from linewatch.connectors.kafka.repartition import RepartitionProducer
from linewatch.connectors.simulator import Simulation
from linewatch.pipeline.alerts import AlertManager
from linewatch.pipeline.config import parse_config
from linewatch.pipeline.job import simulated_records
from linewatch.pipeline.modelling import ModelRuntime
from linewatch.pipeline.models import KeyedStateHost, PartitionOffset, RawRecord
from linewatch.pipeline.repartition import LineForwarder, LineStage

INPUT_PARTITIONS = 3
STAGE_PARTITIONS = 2
LINES = ["L1", "L2", "L3"]


class TopicLog:
    def __init__(self, partitions: int) -> None:
        self.partitions: list[list[RawRecord]] = [[] for _ in range(partitions)]


class FakeProducer:
    def __init__(self, log: TopicLog) -> None:
        self.log = log

    def send(
        self,
        topic: str,
        value: bytes,
        key: bytes | None,
        headers: list[tuple[str, bytes]] | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
    ) -> None:
        if partition is None:
            assert key is not None
            partition = zlib.crc32(key) % len(self.log.partitions)
        messages = self.log.partitions[partition]
        position = PartitionOffset(topic, partition, len(messages))
        messages.append(
            RawRecord(value, f"{topic}/{partition}", key, tuple(headers or ()), position)
        )

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class FakeConsumer:
    """Delivers the topic's messages from a read position per partition, in random chunks."""

    def __init__(self, log: TopicLog, seed: int, start: list[int] | None = None) -> None:
        self.log = log
        self.rng = random.Random(seed)
        self.position = list(start or [0] * len(log.partitions))
        self.host: KeyedStateHost | None = None
        self.exhausted = False

    def attach(self, host: KeyedStateHost) -> None:
        self.host = host

    def should_apply(self, key: str, raw: RawRecord) -> bool:
        return True

    def poll(self, timeout: float) -> list[RawRecord]:
        ready = [p for p, m in enumerate(self.log.partitions) if self.position[p] < len(m)]
        if not ready:
            return []
        partition = self.rng.choice(ready)
        begin = self.position[partition]
        self.position[partition] = min(
            len(self.log.partitions[partition]), begin + self.rng.randrange(1, 40)
        )
        return self.log.partitions[partition][begin : self.position[partition]]

    def commit(self) -> None:
        pass

    def snapshot(self) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        pass


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
                    "parameters": [
                        {"equipment": "welder", "name": "tip_temp_c", "mean": 410.0, "sigma": 3.0}
                    ],
                },
                {
                    "name": "final",
                    "inspects": True,
                    "defects": [
                        {
                            "code": "porosity",
                            "base_rate": 0.1,
                            "driver": "weld/welder/tip_temp_c",
                            "sensitivity": 1.5,
                            "lag_s": 300,
                        }
                    ],
                },
            ],
        }
    )


def config() -> Any:
    predictor = {
        "type": "defect_predictor",
        "name": "risk",
        "features": ["welder/tip_temp_c"],
        "target": {"station": "final", "codes": ["porosity"]},
        "lr": 0.1,
        "warmup": 10,
        "kpi_every": 10,
        "cusum": {"warmup": 10, "k": 0.5, "h": 5},
    }
    lines = [
        {
            "name": line,
            "stations": [
                {
                    "name": "weld",
                    "parameters": [{"equipment": "welder", "name": "tip_temp_c"}],
                    "models": [predictor],
                },
                {"name": "final"},
            ],
        }
        for line in LINES
    ]
    return parse_config(
        {
            "lines": lines,
            "source": {"type": "kafka", "bootstrap": "127.0.0.1:9", "topics": ["in"]},
        }
    )


def input_topic() -> list[list[tuple[RawRecord, Any]]]:
    """The simulated records as an input topic keyed by line/station, per partition."""
    streams = [simulated_records(simulation(line, 30 + n), 90)[0] for n, line in enumerate(LINES)]
    encode = msgspec.json.Encoder().encode
    partitions: list[list[tuple[RawRecord, Any]]] = [[] for _ in range(INPUT_PARTITIONS)]
    for record in heapq.merge(*streams, key=lambda r: r.ts):
        partition = zlib.crc32(record.stream_key.encode()) % INPUT_PARTITIONS
        position = PartitionOffset("in", partition, len(partitions[partition]))
        raw = RawRecord(encode(record), "in", record.stream_key.encode(), (), position)
        partitions[partition].append((raw, record))
    return partitions


def stage_one(workers: int, seed: int) -> TopicLog:
    """``workers`` own the input partitions round robin and flush at random moments."""
    cfg = config()
    log = TopicLog(STAGE_PARTITIONS)
    rng = random.Random(seed)
    models = ModelRuntime(cfg, AlertManager(cfg.alerting), predictors="none")
    forwarders = [
        LineForwarder(
            models,
            RepartitionProducer("", "rp", STAGE_PARTITIONS, client=FakeProducer(log)),
            grace_s=60.0,
        )
        for _ in range(workers)
    ]
    inputs = input_topic()
    position = [0] * INPUT_PARTITIONS
    while any(position[p] < len(inputs[p]) for p in range(INPUT_PARTITIONS)):
        partition = rng.choice([p for p in range(INPUT_PARTITIONS) if position[p] < len(inputs[p])])
        forwarder = forwarders[partition % workers]
        for raw, record in inputs[partition][position[partition] : position[partition] + 25]:
            forwarder.on_record(raw, record)
        position[partition] += 25
        if rng.random() < 0.5:
            forwarder.flush()
    for forwarder in forwarders:
        forwarder.flush()
    return log


def stage_two(log: TopicLog, seed: int, hand_over_after: int | None = None) -> list[Any]:
    cfg = config()
    origins = [("in", p) for p in range(INPUT_PARTITIONS)]
    consumer = FakeConsumer(log, seed)
    stage = LineStage(cfg, consumer, origins)  # type: ignore[arg-type]
    made: list[Any] = []
    stage.bind(made.extend, lambda: None)
    polls = 0
    while any(consumer.position[p] < len(m) for p, m in enumerate(log.partitions)):
        stage.pump(0.0)
        polls += 1
        if polls == hand_over_after:  # another worker takes over from the saved state
            state = msgspec.json.decode(msgspec.json.encode(stage.snapshot()["keys"]))
            consumer = FakeConsumer(log, seed + 1, consumer.position)
            stage = LineStage(cfg, consumer, origins, state)  # type: ignore[arg-type]
            stage.bind(made.extend, lambda: None)
    return [msgspec.to_builtins(item) for item in made]


def test_one_or_three_forwarding_workers_and_any_interleaving_give_the_same_outputs() -> None:
    reference = stage_two(stage_one(1, seed=1), seed=1)
    scores = [o for o in reference if o["type"] == "model_score"]
    kpis = [o for o in reference if o["type"] == "kpi"]
    assert {o["line"] for o in scores} == set(LINES)
    assert len(scores) > 400 and {o["kpi"] for o in kpis} == {"auc", "log_loss"}
    per_line = {line: [o for o in reference if o["line"] == line] for line in LINES}
    for workers, seed in ((3, 2), (3, 3), (2, 4)):
        outputs = stage_two(stage_one(workers, seed), seed)
        # Lines in different stage partitions may interleave differently; each line not.
        assert {line: [o for o in outputs if o["line"] == line] for line in LINES} == per_line


def test_a_hand_over_of_the_stage_state_mid_run_changes_no_output() -> None:
    log = stage_one(3, seed=5)
    whole = stage_two(log, seed=7)
    handed = stage_two(log, seed=7, hand_over_after=20)
    for line in LINES:
        assert [o for o in handed if o["line"] == line] == [o for o in whole if o["line"] == line]
