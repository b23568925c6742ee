"""The pipeline against a real Kafka broker: DLQ, scale-out, kill -9, broker restart.

One topic holds 100,000 simulated records from six lines with injected faults, plus
1,000 malformed records. Each test runs `linewatch run` worker processes in its own
consumer group and compares the alerts they publish with an in-process replay of the
same records. Every test runs on both transports (confluent-kafka and kafka-python);
the checks read the topics with kafka-python directly, independently of either.
"""

from __future__ import annotations

import heapq
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from pydantic import TypeAdapter

from linewatch.connectors.kafka import (
    TRANSPORTS,
    KafkaSource,
    KafkaStateStore,
    Transport,
    ensure_topics,
)
from linewatch.connectors.kafka.clients import check_transport
from linewatch.connectors.memory import IterableSource, ListSink
from linewatch.connectors.simulator import Simulation
from linewatch.pipeline.config import parse_config
from linewatch.pipeline.engine import Engine
from linewatch.pipeline.job import simulated_records
from linewatch.pipeline.models import Alert, WireRecord
from linewatch.pipeline.runner import Route, Runner
from tests.servers.kafka import KafkaBroker

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
LINES = [f"L{n}" for n in range(1, 7)]
GOOD = 100_000
BAD = 1_000
PARTITIONS = 3


def line_simulation(line: str, seed: int) -> Simulation:
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
                            "base_rate": 0.01,
                            "driver": "weld/welder/tip_temp_c",
                            "sensitivity": 1.5,
                            "lag_s": 300,
                        }
                    ],
                },
            ],
            "faults": [
                "shift:weld/nugget_dia_mm@10h+2h*3",
                "trend:weld/welder/tip_temp_c@25h+2h*5",
            ],
        }
    )


def lines_config() -> list[dict[str, Any]]:
    return [
        {
            "name": line,
            "stations": [
                {
                    "name": "weld",
                    "characteristics": [{"name": "nugget_dia_mm", "chart": "imr", "phase1": 50}],
                    "parameters": [
                        {"equipment": "welder", "name": "tip_temp_c", "chart": "imr", "phase1": 50}
                    ],
                },
                {"name": "final", "kpi_every_s": 900},
            ],
        }
        for line in LINES
    ]


def all_records() -> list[WireRecord]:
    # About 3.1 records a part: measurement, parameter, inspection, a lot count per 100.
    minutes = GOOD / len(LINES) / 3.01 * 0.5
    streams: list[Iterator[WireRecord]] = []
    for number, line in enumerate(LINES):
        records, _ = simulated_records(line_simulation(line, seed=100 + number), minutes)
        streams.append(records)
    merged = list(heapq.merge(*streams, key=lambda r: r.ts))
    return merged[:GOOD]


def malformed(number: int) -> bytes:
    kinds = [
        b'{"kind":"measurement","ts":"2026-11-02T06:00:00Z"',  # truncated JSON
        b"\xff\xfe not utf-8",
        b'{"kind":"measurement","ts":"2026-11-02T06:00:00","line":"L1","station":"weld",'
        b'"characteristic":"nugget_dia_mm","value":5.4}',  # no time zone
        b'{"kind":"attribute","ts":"2026-11-02T06:00:00Z","line":"L1","station":"final",'
        b'"characteristic":"porosity","inspected":10,"nonconforming":11}',
        b'{"kind":"parameter","ts":"2026-11-02T06:00:00Z","line":"L1","station":"weld",'
        b'"equipment":"welder","name":"tip_temp_c","value":"hot"}',
    ]
    return kinds[number % len(kinds)] + b" " * (number % 3)


@dataclass
class Stream:
    bootstrap: str
    topic: str
    expected: set[tuple[str, str, str]]
    bad_payloads: Counter[bytes]
    processed: int  # valid records the replay applied to detector state


def expected_alerts(records: list[WireRecord]) -> tuple[set[tuple[str, str, str]], int]:
    config = parse_config({"lines": lines_config()})
    sink = ListSink()
    runner = Runner(
        Engine(config), IterableSource(records), [Route(sink, frozenset({"alerts"}))], ListSink()
    )
    summary = runner.run()
    alerts = {identity(msgspec.to_builtins(a)) for a in sink.items if isinstance(a, Alert)}
    return alerts, summary.records_processed


def identity(alert: dict[str, Any]) -> tuple[str, str, str]:
    return alert["fingerprint"], alert["starts_at"], alert["status"]


@pytest.fixture(scope="module")
def stream(kafka_broker: KafkaBroker) -> Stream:
    topic = "line-events-shared"
    ensure_topics(kafka_broker.bootstrap, {topic: PARTITIONS})
    records = all_records()
    assert len(records) == GOOD
    producer = KafkaProducer(
        bootstrap_servers=kafka_broker.bootstrap, acks="all", linger_ms=5, batch_size=512 * 1024
    )
    encoder = msgspec.json.Encoder()
    bad: Counter[bytes] = Counter()
    spacing = GOOD // BAD
    for number, record in enumerate(records):
        producer.send(topic, encoder.encode(record), key=record.stream_key.encode())
        if number % spacing == spacing // 2:
            payload = malformed(len(bad))
            bad[payload] += 1
            producer.send(topic, payload, key=record.stream_key.encode())
    producer.flush()
    producer.close()
    assert sum(bad.values()) == BAD
    expected, processed = expected_alerts(records)
    assert len(expected) > 20  # the faults (and a few false alarms) on six lines
    return Stream(kafka_broker.bootstrap, topic, expected, bad, processed)


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> Transport:
    """The Kafka client under test: every test runs on both."""
    return check_transport(request.param)


def write_config(
    folder: Path, stream: Stream, group: str, transport: Transport, idle_exit_s: float = 20.0
) -> Path:
    config = {
        "lines": lines_config(),
        "source": {
            "type": "kafka",
            "transport": transport,
            "bootstrap": stream.bootstrap,
            "topics": [stream.topic],
            "group_id": group,
            "batch_size": 2000,
            "idle_exit_s": idle_exit_s,
        },
        "sinks": [
            {
                "type": "kafka",
                "transport": transport,
                "bootstrap": stream.bootstrap,
                "alerts_topic": f"{group}-alerts",
                "outputs": ["alerts"],
            }
        ],
        "dead_letters": {
            "type": "kafka",
            "transport": transport,
            "bootstrap": stream.bootstrap,
            "topic": f"{group}-dlq",
        },
        "checkpoint": {
            "every_records": 5000,
            "every_seconds": 1.0,
            "changelog": {
                "type": "kafka",
                "transport": transport,
                "bootstrap": stream.bootstrap,
                "topic": f"{group}-state",
            },
        },
    }
    path = folder / f"{group}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def start_worker(config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "linewatch.pipeline.cli", "run", "--config", str(config)],
            cwd=config.parent,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_all(workers: list[subprocess.Popen[bytes]], logs: list[Path], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for worker, log in zip(workers, logs, strict=True):
        try:
            worker.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for w in workers:
                w.kill()
            pytest.fail(f"worker did not finish in {timeout} s:\n{log.read_text()[-3000:]}")
        assert worker.returncode in (0, -signal.SIGKILL), log.read_text()[-3000:]


def read_topic(bootstrap: str, topic: str) -> list[Any]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    deadline = time.monotonic() + 60
    # A fresh client's metadata can miss a topic created moments ago (seen once in CI:
    # no partitions, then "No partitions are currently assigned"): ask again.
    while not (known := consumer.partitions_for_topic(topic)):
        assert time.monotonic() < deadline, f"{topic}: no partitions in the metadata"
        time.sleep(0.2)
    partitions = [TopicPartition(topic, p) for p in sorted(known)]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    ends = consumer.end_offsets(partitions)
    messages = []
    while any(consumer.position(tp) < ends[tp] for tp in partitions):
        assert time.monotonic() < deadline, f"could not read {topic} to its end"
        for batch in consumer.poll(timeout_ms=500).values():
            messages.extend(batch)
    consumer.close()
    return messages


def committed(bootstrap: str, group: str) -> int:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        offsets = admin.list_group_offsets(group).get(group, {})
        return sum(max(0, o.offset) for o in offsets.values())
    except Exception:  # the coordinator may be moving during a fault; try again later
        return 0
    finally:
        admin.close()


def published_alerts(stream: Stream, group: str) -> list[tuple[str, str, str]]:
    return [
        identity(msgspec.json.decode(m.value))
        for m in read_topic(stream.bootstrap, f"{group}-alerts")
    ]


def test_one_worker_alerts_and_exactly_the_malformed_records_in_the_dlq(
    stream: Stream, tmp_path: Path, transport: Transport
) -> None:
    group = f"one-worker-{transport}"
    log = tmp_path / "worker.log"
    config = write_config(tmp_path, stream, group, transport)
    wait_all([start_worker(config, log)], [log], timeout=600)
    alerts = published_alerts(stream, group)
    assert set(alerts) == stream.expected
    letters = read_topic(stream.bootstrap, f"{group}-dlq")
    assert len(letters) == BAD
    assert Counter(m.value for m in letters) == stream.bad_payloads  # original bytes kept
    for message in letters:
        headers = dict(message.headers)
        assert headers["linewatch.dlq.topic"] == stream.topic.encode()
        assert int(headers["linewatch.dlq.partition"]) in range(PARTITIONS)
        assert int(headers["linewatch.dlq.offset"]) >= 0
        reason = headers["linewatch.dlq.reason"].decode()
        assert reason.startswith(f"{stream.topic}/") and len(reason) > 20
        assert message.key is not None and message.key.decode().startswith("L")


def test_three_workers_give_the_same_alerts_as_one(
    stream: Stream, tmp_path: Path, transport: Transport
) -> None:
    group = f"three-workers-{transport}"
    config = write_config(tmp_path, stream, group, transport)
    logs = [tmp_path / f"worker-{n}.log" for n in range(3)]
    workers = [start_worker(config, log) for log in logs]
    wait_all(workers, logs, timeout=600)
    alerts = published_alerts(stream, group)
    assert set(alerts) == stream.expected
    # Rebalances while workers join hand state over through the changelog: no duplicates.
    duplicates = [a for a, n in Counter(alerts).items() if n > 1]
    assert len(duplicates) <= len(stream.expected) // 10


def test_kill_minus_nine_of_one_of_three_workers_loses_nothing(
    stream: Stream, tmp_path: Path, transport: Transport
) -> None:
    group = f"kill-nine-{transport}"
    config = write_config(tmp_path, stream, group, transport, idle_exit_s=40.0)
    logs = [tmp_path / f"worker-{n}.log" for n in range(3)]
    workers = [start_worker(config, log) for log in logs]
    deadline = time.monotonic() + 300
    while committed(stream.bootstrap, group) < (GOOD + BAD) // 5:
        assert time.monotonic() < deadline, "workers made no progress"
        time.sleep(0.2)
    workers[0].send_signal(signal.SIGKILL)
    wait_all(workers, logs, timeout=600)
    alerts = published_alerts(stream, group)
    assert set(alerts) == stream.expected  # every expected alert, after dedup by identity
    assert committed(stream.bootstrap, group) == GOOD + BAD


def test_broker_restart_mid_stream_resumes_on_its_own(
    stream: Stream, kafka_broker: KafkaBroker, tmp_path: Path, transport: Transport
) -> None:
    group = f"broker-restart-{transport}"
    log = tmp_path / "worker.log"
    # Idle exit must outlast the restart on a loaded machine (a 60 s limit once ended a
    # worker, under CI load, before the broker was back).
    config = write_config(tmp_path, stream, group, transport, idle_exit_s=150.0)
    worker = start_worker(config, log)
    deadline = time.monotonic() + 300
    while committed(stream.bootstrap, group) < (GOOD + BAD) // 4:
        assert time.monotonic() < deadline, "worker made no progress"
        time.sleep(0.2)
    kafka_broker.restart()
    wait_all([worker], [log], timeout=600)
    assert set(published_alerts(stream, group)) == stream.expected
    assert committed(stream.bootstrap, group) == GOOD + BAD


@dataclass
class InProcessWorker:
    """A runner on a Kafka source in this process, slowed so that a rebalance finds it busy."""

    runner: Runner
    alerts: ListSink
    changelog: KafkaStateStore

    @classmethod
    def start(cls, stream: Stream, group: str, transport: Transport) -> InProcessWorker:
        changelog = KafkaStateStore(stream.bootstrap, f"{group}-state", transport=transport)
        changelog.ensure_topic(PARTITIONS)
        source = KafkaSource(
            stream.bootstrap,
            [stream.topic],
            group,
            batch_size=100,
            idle_exit_s=8.0,
            changelog=changelog,
            transport=transport,
        )
        alerts = ListSink()
        runner = Runner(
            Engine(parse_config({"lines": lines_config()})),
            source,
            [Route(alerts, frozenset({"alerts"}))],
            ListSink(),
            # No checkpoint of its own: only the revoke saves state, and nothing is committed.
            checkpoint_every_records=10**9,
            checkpoint_every_seconds=3600.0,
            # Slow after the first 20,000 records, so that the handover is mid-stream.
            on_batch=lambda summary: time.sleep(0.05 if summary.records_read >= 20_000 else 0),
        )
        return cls(runner, alerts, changelog)


def test_a_revoke_saves_the_state_that_the_next_owner_restores(
    stream: Stream, tmp_path: Path, transport: Transport
) -> None:
    group = f"revoke-{transport}"
    first = InProcessWorker.start(stream, group, transport)
    errors: list[BaseException] = []

    def run(worker: InProcessWorker) -> None:
        try:
            worker.runner.run()
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)
        finally:
            worker.runner.close()

    threads = [threading.Thread(target=run, args=(first,))]
    threads[0].start()
    deadline = time.monotonic() + 120
    source = first.runner.source
    assert isinstance(source, KafkaSource)
    # State on every partition before the second joins, whichever one it is handed:
    # kafka-python may fetch one partition far ahead of the others.
    while first.runner.summary.records_read < 20_000 or len(source._next) < PARTITIONS:
        assert time.monotonic() < deadline and threads[0].is_alive(), "first worker stalled"
        time.sleep(0.05)
    second = InProcessWorker.start(stream, group, transport)  # joining revokes the first's
    threads.append(threading.Thread(target=run, args=(second,)))
    threads[1].start()
    for thread in threads:
        thread.join(timeout=300)
        assert not thread.is_alive(), "a worker did not finish"
    assert errors == []
    summaries = [first.runner.summary, second.runner.summary]
    assert first.runner.summary.rebalances >= 1
    # The second read its partitions from the last commit (none): what the first had
    # applied there is skipped below, the rest (possibly nothing, if the first was through
    # that partition) is applied by the second.
    assert second.runner.summary.records_read > 0
    assert second.runner.summary.records_processed < stream.processed
    assert second.runner.summary.keys_restored > 0  # the state the first saved on revoke
    # Nothing was committed, so the records applied before the revoke were read again;
    # the restored state's applied offsets skip them: each record applied exactly once.
    assert sum(s.records_skipped for s in summaries) > 0
    assert sum(s.records_processed for s in summaries) == stream.processed
    alerts = {
        identity(msgspec.to_builtins(a))
        for worker in (first, second)
        for a in worker.alerts.items
        if isinstance(a, Alert)
    }
    assert alerts == stream.expected
    saved = first.changelog.load(range(PARTITIONS))  # closed for sending, still readable
    assert sorted(key for _, key, _ in saved) == sorted(
        f"{line}/{station}" for line in LINES for station in ("final", "weld")
    )
