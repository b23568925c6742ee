"""`linewatch replay --from kafka://` against a real broker: a time window, no group.

Two hours of a simulated line go to a 3-partition topic through `linewatch simulate
--to kafka://` (which stamps each message with the record's event time). A live
consumer group reads part of it and commits. A replay of one hour must then process
exactly the records of that hour (counted independently from the simulated file), raise
the alerts a file replay of the same records raises, and leave the live group's
committed offsets, and the broker's list of groups, as they were.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest
import yaml
from kafka import KafkaAdminClient

from linewatch.connectors.kafka import TRANSPORTS, KafkaSource, ensure_topics
from linewatch.pipeline.cli import main
from linewatch.pipeline.models import WireRecord
from tests.servers.kafka import KafkaBroker

pytestmark = pytest.mark.integration

START = "2026-11-02T06:00:00Z"
WINDOW = ("2026-11-02T06:40:00Z", "2026-11-02T07:25:00Z")
LINES = {
    "name": "L1",
    "stations": [
        {
            "name": "press",
            "characteristics": [{"name": "height_mm", "chart": "imr", "phase1": 30}],
            "parameters": [{"equipment": "ram", "name": "force_kn", "chart": "imr", "phase1": 30}],
        },
        {"name": "final"},
    ],
}
SIMULATION = {
    "line": "L1",
    "cycle_s": 10,
    "seed": 5,
    "start": START,
    "stations": [
        {
            "name": "press",
            "characteristics": [{"name": "height_mm", "mean": 20.0, "sigma": 0.1}],
            "parameters": [{"equipment": "ram", "name": "force_kn", "mean": 80.0, "sigma": 1.0}],
        },
        {"name": "final", "inspects": True, "defects": [{"code": "crack", "base_rate": 0.02}]},
    ],
}
SINKS = [
    {"type": "jsonl", "path": "alerts.jsonl", "outputs": ["alerts"]},
    {"type": "jsonl", "path": "records.jsonl", "outputs": ["records"]},
]


def when(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def write_config(path: Path) -> Path:
    config = {
        "lines": [LINES],
        "simulation": SIMULATION,
        "sinks": SINKS,
        "dead_letters": {"path": "dead.jsonl"},
    }
    path.write_text(yaml.safe_dump(config))
    return path


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines()


def group_offsets(bootstrap: str) -> dict[str, dict[tuple[str, int], int]]:
    """Every consumer group the broker knows, with its committed offsets."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        groups = [str(group["group_id"]) for group in admin.list_groups()]
        return {
            group: {
                (tp.topic, tp.partition): meta.offset
                for tp, meta in admin.list_group_offsets(group).get(group, {}).items()
            }
            for group in groups
        }
    finally:
        admin.close()


def replay(args: list[str], out: Path) -> Path:
    assert main(["replay", *args, "--out", str(out), "--no-progress"]) == 0
    return out


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_window_replays_exactly_its_records_and_leaves_the_live_group_alone(
    kafka_broker: KafkaBroker, tmp_path: Path, unique_name: str, transport: str
) -> None:
    bootstrap = kafka_broker.bootstrap
    topic = f"{unique_name}-events"
    # Event times are a month old: keep them past the broker's 7-day time retention.
    ensure_topics(bootstrap, {topic: 3}, {"retention.ms": "-1"})
    config = write_config(tmp_path / "line.yaml")
    simulated = tmp_path / "line.jsonl"
    base = ["simulate", "--config", str(config), "--minutes", "120", "--no-progress"]
    base += ["--fault", "shift:press/height_mm@50m+30m*4"]
    assert main([*base, "--out", str(simulated)]) == 0
    assert main([*base, "--to", f"kafka://{bootstrap}/{topic}"]) == 0
    produced = [msgspec.json.decode(line, type=WireRecord) for line in lines_of(simulated)]
    assert len(produced) > 2000

    # The live group reads part of the topic and commits.
    group = f"{unique_name}-live"
    live = KafkaSource(bootstrap, [topic], group, batch_size=500)
    read = 0
    deadline = time.monotonic() + 60
    while read < 1000:
        assert time.monotonic() < deadline, "the live group read nothing"
        read += len(live.poll(1.0))
    live.commit()
    live.close()
    before = group_offsets(bootstrap)
    assert 0 < sum(before[group].values()) < len(produced)

    start, stop = (when(t) for t in WINDOW)
    window = [
        line for line, r in zip(lines_of(simulated), produced, strict=True) if start <= r.ts < stop
    ]
    assert 0 < len(window) < len(produced) / 2
    url = f"kafka://{bootstrap}/{topic}"
    if transport == "kafka-python":
        url += "?transport=kafka-python"
    from_kafka = replay(
        ["--config", str(config), "--from", url, "--start", WINDOW[0], "--stop", WINDOW[1]],
        tmp_path / "kafka",
    )
    # (a) exactly the window's records: the same multiset, whatever the partition order.
    replayed = [
        msgspec.json.decode(line, type=WireRecord)
        for line in lines_of(from_kafka / "records.jsonl")
    ]
    in_window = [msgspec.json.decode(line, type=WireRecord) for line in window]
    key = msgspec.json.encode
    assert sorted(map(key, replayed)) == sorted(map(key, in_window))
    summary = (from_kafka / "report.md").read_text()
    assert f"| {len(window)} | {len(window)} | 0 |" in summary

    # (b) the alerts a file replay of the same records raises.
    window_file = tmp_path / "window.jsonl"
    window_file.write_text("\n".join(window) + "\n")
    from_file = replay(["--config", str(config), "--input", str(window_file)], tmp_path / "file")
    kafka_alerts = [json.loads(a) for a in lines_of(from_kafka / "alerts.jsonl")]
    file_alerts = [json.loads(a) for a in lines_of(from_file / "alerts.jsonl")]
    assert kafka_alerts, "the shift inside the window should fire"

    def identity(alert: dict[str, object]) -> tuple[str, str, str]:
        return str(alert["fingerprint"]), str(alert["starts_at"]), str(alert["status"])

    assert sorted(map(identity, kafka_alerts)) == sorted(map(identity, file_alerts))

    # (c) and (d): the live group's offsets, and the set of groups, are untouched.
    assert group_offsets(bootstrap) == before


def test_an_unknown_topic_is_a_one_line_error(
    kafka_broker: KafkaBroker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "line.yaml")
    url = f"kafka://{kafka_broker.bootstrap}/no-such-topic"
    args = ["replay", "--config", str(config), "--from", url, "--start", WINDOW[0]]
    code = main([*args, "--stop", WINDOW[1], "--out", str(tmp_path / "o"), "--no-progress"])
    error = capsys.readouterr().err.strip()
    assert code == 1
    assert error.endswith("Kafka replay source: Kafka topic 'no-such-topic' does not exist")
    assert "\n" not in error
