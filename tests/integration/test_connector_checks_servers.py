"""The generic Source/Sink checks over the connectors that need a real server.

Kafka and InfluxDB come from the ``linewatch`` pytest plugin's session fixtures. The
classes are the ones ``tests/unit/test_connector_checks.py`` finds by introspection;
``SERVER_CASES`` (keyed by class name) tells it which are checked here. TODO(lead):
move these into the classes as ``_contract_case`` once their modules settle.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from linewatch.connectors.checks import (
    SINK_CHECKS,
    SOURCE_CHECKS,
    SinkCase,
    SourceCase,
    find_connector_classes,
    is_source_class,
)
from linewatch.pipeline.models import Alert, ChartPoint, DeadLetter, Measurement

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
_serial = itertools.count()


def _measurements(n: int) -> list[Measurement]:
    return [
        Measurement(
            ts=T0 + timedelta(seconds=i), line="L1", station="S1", characteristic="gap", value=i
        )
        for i in range(n)
    ]


def _alerts(n: int) -> list[Alert]:
    return [
        Alert(
            alert_id=f"a{i}",
            fingerprint=f"fp{i}",
            status="firing",
            ts=T0 + timedelta(minutes=i),
            starts_at=T0 + timedelta(minutes=i),
            ends_at=None,
            line="L1",
            station="S1",
            characteristic="gap",
            chart="imr",
            rule="we1",
            severity="warning",
            value=9.0,
            cl=5.0,
            ucl=8.0,
            lcl=2.0,
            message="above UCL",
        )
        for i in range(n)
    ]


def _point(i: int) -> ChartPoint:
    return ChartPoint(
        ts=T0 + timedelta(minutes=i),
        line="L1",
        station="S1",
        characteristic="gap",
        chart="imr",
        value=5.0,
        cl=5.0,
        ucl=8.0,
        lcl=2.0,
        zone="C",
        limits_version=1,
    )


def _dead_letters(n: int) -> list[DeadLetter]:
    return [
        DeadLetter(
            ts=T0,
            origin=f"in.jsonl:{i}",
            reason="not JSON",
            payload="{oops",
            payload_encoding="utf-8",
        )
        for i in range(n)
    ]


def _topic_count(bootstrap: str, topic: str) -> int:
    """How many messages ``topic`` holds, read back with a fresh consumer."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in partitions]
        ends = consumer.end_offsets(tps)
        starts = consumer.beginning_offsets(tps)
        return sum(ends[tp] - starts[tp] for tp in tps)
    finally:
        consumer.close()


# -- Kafka --------------------------------------------------------------------------------


def _kafka_source(cls: type, request: pytest.FixtureRequest) -> SourceCase:
    from linewatch.connectors.kafka import produce_records

    broker = request.getfixturevalue("kafka_broker")
    topic = f"{request.getfixturevalue('unique_name')}-src"
    produce_records(_measurements(5), f"kafka://{broker.bootstrap}/{topic}")

    def make() -> Any:
        group = f"{topic}-g{next(_serial)}"  # a new group reads from the start
        return cls(broker.bootstrap, [topic], group, batch_size=2, idle_exit_s=5.0)

    return SourceCase(make, records=5, poll_timeout=0.5, deadline_s=60.0)


def _kafka_replay_source(cls: type, request: pytest.FixtureRequest) -> SourceCase:
    from linewatch.connectors.kafka import produce_records

    broker = request.getfixturevalue("kafka_broker")
    topic = f"{request.getfixturevalue('unique_name')}-replay"
    # Two before the window, five in it, two at and after its stop.
    records = [
        Measurement(
            ts=T0 + timedelta(seconds=s), line="L1", station="S1", characteristic="gap", value=s
        )
        for s in (-2, -1, 0, 1, 2, 3, 4, 5, 9)
    ]
    produce_records(records, f"kafka://{broker.bootstrap}/{topic}")

    def make() -> Any:
        return cls(broker.bootstrap, [topic], T0, T0 + timedelta(seconds=5), batch_size=2)

    return SourceCase(make, records=5, poll_timeout=0.5, deadline_s=60.0)


def _kafka_alert_sink(cls: type, request: pytest.FixtureRequest) -> SinkCase:
    broker = request.getfixturevalue("kafka_broker")
    prefix = request.getfixturevalue("unique_name")

    def make() -> Any:
        n = next(_serial)
        return cls(broker.bootstrap, f"{prefix}-alerts-{n}", points_topic=f"{prefix}-pts-{n}")

    def delivered(sink: Any) -> int:
        return _topic_count(broker.bootstrap, sink.alerts_topic) + _topic_count(
            broker.bootstrap, sink.points_topic
        )

    return SinkCase(make, items=[*_alerts(2), _point(3)], delivered=delivered)


def _kafka_dead_letter_sink(cls: type, request: pytest.FixtureRequest) -> SinkCase:
    broker = request.getfixturevalue("kafka_broker")
    prefix = request.getfixturevalue("unique_name")

    def make() -> Any:
        return cls(broker.bootstrap, f"{prefix}-dlq-{next(_serial)}")

    return SinkCase(
        make,
        items=_dead_letters(3),
        delivered=lambda sink: _topic_count(broker.bootstrap, sink.topic),
    )


# -- InfluxDB -----------------------------------------------------------------------------


def _influx_sink(cls: type, request: pytest.FixtureRequest) -> SinkCase:
    server = request.getfixturevalue("influx11_server")
    tmp = request.getfixturevalue("tmp_path")

    def make() -> Any:
        db = f"contract{next(_serial)}"
        server.create_database(db)
        return cls(server.url, db, token=server.token, spool_dir=tmp / db, retry_for_s=1.0)

    def delivered(sink: Any) -> int:
        return len(server.select("SELECT * FROM /.*/", sink.settings.database))

    return SinkCase(make, items=[*_measurements(3), *_alerts(1), _point(1)], delivered=delivered)


def _influx_source(cls: type, request: pytest.FixtureRequest) -> SourceCase:
    server = request.getfixturevalue("influx11_server")
    db = f"contractsrc{next(_serial)}"
    server.create_database(db)
    lines = [
        f"measurement,line=L1,station=S1,characteristic=gap value={i}.0 "
        f"{int((T0 + timedelta(seconds=i)).timestamp()) * 10**9}"
        for i in range(5)
    ]
    status, body = server.write(db, lines)
    assert status == 204, body

    def make() -> Any:
        return cls(
            server.url,
            db,
            T0,
            T0 + timedelta(hours=1),
            token=server.token,
            measurements=["measurement"],
            batch_size=2,
            page_size=2,
        )

    return SourceCase(make, records=5)


SERVER_CASES: dict[str, Callable[[type, pytest.FixtureRequest], SourceCase | SinkCase]] = {
    "KafkaSource": _kafka_source,
    "KafkaReplaySource": _kafka_replay_source,
    "KafkaAlertSink": _kafka_alert_sink,
    "KafkaDeadLetterSink": _kafka_dead_letter_sink,
    "InfluxSink": _influx_sink,
    "InfluxSource": _influx_source,
}


FOUND = find_connector_classes()


def _params() -> list[Any]:
    params = []
    for name in sorted(SERVER_CASES):
        for check in SOURCE_CHECKS if is_source_class(FOUND[name]) else SINK_CHECKS:
            params.append(pytest.param(name, check, id=f"{name}-{check.__name__}"))
    return params


@pytest.mark.parametrize(("name", "check"), _params())
def test_contract_with_a_server(
    name: str, check: Callable[[Any], None], request: pytest.FixtureRequest
) -> None:
    check(SERVER_CASES[name](FOUND[name], request))
