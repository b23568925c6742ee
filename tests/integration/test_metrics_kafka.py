"""Consumer lag per partition, against the real broker, on both transports.

A 3-partition topic gets 40, 25 and 10 records (partitions chosen by the producer, not
by key). The source's lag after each poll must be each polled partition's record count
minus the records of it consumed so far, and 0 on every partition at the end; a
`run` of the same topic must show the same final lags on /metrics over HTTP.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from kafka import KafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from linewatch.connectors.kafka import TRANSPORTS, KafkaSource, Transport, ensure_topics
from linewatch.pipeline.config import parse_config
from linewatch.pipeline.job import build_job
from linewatch.pipeline.metrics_http import start_metrics
from linewatch.pipeline.models import PartitionOffset
from tests.servers.kafka import KafkaBroker

pytestmark = pytest.mark.integration

PER_PARTITION = {0: 40, 1: 25, 2: 10}


def produce(broker: KafkaBroker, topic: str) -> None:
    ensure_topics(broker.bootstrap, {topic: len(PER_PARTITION)})
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    for partition, count in PER_PARTITION.items():
        for n in range(count):
            record = {
                "kind": "parameter",
                "ts": f"2026-11-02T06:{n // 60:02d}:{n % 60:02d}Z",
                "line": "L1",
                "station": f"s{partition}",
                "equipment": "ram",
                "name": "force_kn",
                "value": 80.0 + n % 3,
            }
            producer.send(topic, json.dumps(record).encode(), partition=partition)
    producer.flush()
    producer.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_the_source_reports_exact_lag_per_partition(
    kafka_broker: KafkaBroker, unique_name: str, transport: Transport
) -> None:
    topic = f"{unique_name}-lag"
    produce(kafka_broker, topic)
    source = KafkaSource(
        kafka_broker.bootstrap,
        [topic],
        f"{unique_name}-group",
        batch_size=7,
        transport=transport,
    )
    consumed: Counter[int] = Counter()
    checked_mid_way = 0
    try:
        deadline = time.monotonic() + 60
        while sum(consumed.values()) < sum(PER_PARTITION.values()):
            assert time.monotonic() < deadline, f"consumed only {consumed}"
            batch = source.poll(0.5)
            for raw in batch:
                assert isinstance(raw.position, PartitionOffset)
                consumed[raw.position.partition] += 1
            lag = source.lag()
            for partition in consumed:  # every partition polled so far, exactly
                assert lag[(topic, partition)] == PER_PARTITION[partition] - consumed[partition]
                checked_mid_way += PER_PARTITION[partition] > consumed[partition]
        assert source.lag() == {(topic, p): 0 for p in PER_PARTITION}
    finally:
        source.close()
    assert checked_mid_way > 0  # some partition was seen behind its end, not only at 0


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_run_shows_the_lag_per_partition_on_metrics(
    kafka_broker: KafkaBroker,
    unique_name: str,
    transport: Transport,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    topic = f"{unique_name}-run"
    produce(kafka_broker, topic)
    monkeypatch.chdir(tmp_path)
    parameters = [{"equipment": "ram", "name": "force_kn"}]
    stations = [{"name": f"s{p}", "parameters": parameters} for p in PER_PARTITION]
    config = parse_config(
        {
            "lines": [{"name": "L1", "stations": stations}],
            "source": {
                "type": "kafka",
                "bootstrap": kafka_broker.bootstrap,
                "topics": [topic],
                "group_id": f"{unique_name}-group",
                "transport": transport,
                "batch_size": 10,
                "idle_exit_s": 3,
            },
            "dead_letters": {"path": "dead.jsonl"},
        }
    )
    job = build_job(config, mode="run")
    server = start_metrics(job.runner, port=0)
    try:
        summary = job.run()
        with urllib.request.urlopen(f"{server.url}/metrics", timeout=10) as response:
            text = response.read().decode()
        server.metrics.stop()
    finally:
        server.close()
        job.finish()
    assert summary.records_read == sum(PER_PARTITION.values())
    assert samples(text, "linewatch_records_in_total") == {(): 75}
    assert samples(text, "linewatch_consumer_lag") == {
        (("partition", str(p)), ("topic", topic)): 0 for p in PER_PARTITION
    }
    assert samples(text, "linewatch_dead_letters_total") == {}
