"""``max_batch_wait_ms`` against a real broker: at a low rate no record waits for a full batch.

Records come one every 100 ms; the source has ``batch_size`` 5000 and is polled with a 5 s
timeout. Before ``max_batch_wait_ms`` confluent-kafka's ``consume`` held every record until
the 5 s were up (a batch of 5000 never fills); now each poll returns within a slice of
50 ms of its first record. Wall-clock checks allow 20x the bound (a loaded 2-core machine).
"""

from __future__ import annotations

import threading
import time

import pytest

from linewatch.connectors.kafka import TRANSPORTS, KafkaSource, Transport, ensure_topics
from linewatch.connectors.kafka.sinks import make_producer
from linewatch.connectors.testing.kafka import KafkaBroker

pytestmark = pytest.mark.integration

RECORDS = 20
SPACING_S = 0.1
POLL_TIMEOUT_S = 5.0
BOUND_S = 0.05
ALLOWED_S = 20 * BOUND_S


def wait_for_assignment(source: KafkaSource, deadline: float) -> None:
    while not source.assignment():
        assert time.monotonic() < deadline, "no partition assigned within 60 s"
        assert source.poll(0.2) == []


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_each_poll_returns_within_the_bound_of_its_first_record(
    kafka_broker: KafkaBroker, unique_name: str, transport: Transport
) -> None:
    topic = f"batch-wait-{transport}-{unique_name[:30]}"
    ensure_topics(kafka_broker.bootstrap, {topic: 1})
    source = KafkaSource(
        kafka_broker.bootstrap,
        [topic],
        f"{topic}-group",
        batch_size=5000,
        max_batch_wait_ms=BOUND_S * 1000,
        transport=transport,
    )
    sent_at: dict[bytes, float] = {}
    producer = make_producer(kafka_broker.bootstrap, transport="confluent")

    def produce() -> None:
        for number in range(RECORDS):
            payload = f"record-{number}".encode()
            sent_at[payload] = time.monotonic()
            producer.send(topic, payload, b"L1/weld")
            producer.flush()
            time.sleep(SPACING_S)

    try:
        wait_for_assignment(source, time.monotonic() + 60)
        sender = threading.Thread(target=produce, daemon=True)
        sender.start()
        waits: dict[bytes, float] = {}
        batches: list[int] = []
        deadline = time.monotonic() + 60
        while len(waits) < RECORDS and time.monotonic() < deadline:
            batch = source.poll(POLL_TIMEOUT_S)
            returned = time.monotonic()
            if batch:
                batches.append(len(batch))
            for raw in batch:
                waits[bytes(raw.payload)] = returned - sent_at[bytes(raw.payload)]
        sender.join(10)
    finally:
        source.close()
        producer.close()
    assert sorted(waits) == sorted(sent_at)
    late = {payload: round(wait, 3) for payload, wait in waits.items() if wait > ALLOWED_S}
    assert late == {}
    # one record per poll, or a few when the machine stalls; never one batch of all
    assert len(batches) >= RECORDS // 2
    assert max(batches) < RECORDS // 2
