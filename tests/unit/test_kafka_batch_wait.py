"""``max_batch_wait_ms``: a Kafka poll is cut into slices, so no record waits for a full batch."""

from __future__ import annotations

from typing import Any

import pytest

from linewatch.connectors.kafka import source as source_module
from linewatch.connectors.kafka.confluent import ConfluentConsumer
from linewatch.connectors.kafka.source import KafkaSource
from linewatch.pipeline.config import ConfigError, parse_config
from linewatch.pipeline.config.sources import KafkaSourceConfig
from linewatch.pipeline.models import PartitionOffset, RawRecord


def config(**source: Any) -> dict[str, Any]:
    return {
        "lines": [{"name": "L1", "stations": [{"name": "weld"}]}],
        "source": {"type": "kafka", "bootstrap": "127.0.0.1:9", "topics": ["t"], **source},
    }


def test_the_default_is_10_ms_and_a_bad_value_is_named_by_its_path() -> None:
    default, zero = parse_config(config()).source, parse_config(config(max_batch_wait_ms=0)).source
    assert isinstance(default, KafkaSourceConfig) and isinstance(zero, KafkaSourceConfig)
    assert (default.max_batch_wait_ms, zero.max_batch_wait_ms) == (10.0, 0.0)
    with pytest.raises(ConfigError) as caught:
        parse_config(config(max_batch_wait_ms=-1))
    assert caught.value.problems == [
        "source.max_batch_wait_ms: Input should be greater than or equal to 0 (got -1)"
    ]
    with pytest.raises(ConfigError) as caught:
        parse_config(config(max_batch_wait_ms="soon"))
    assert caught.value.problems == [
        "source.max_batch_wait_ms: Input should be a valid number, unable to parse string "
        "as a number (got 'soon')"
    ]


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeClient:
    """Returns nothing for ``empty_calls`` polls (each taking its whole timeout), then one record."""

    def __init__(self, clock: FakeClock, empty_calls: int) -> None:
        self.clock = clock
        self.empty_calls = empty_calls
        self.timeouts: list[float] = []
        self.max_records: list[int] = []

    def poll(self, timeout: float, max_records: int) -> tuple[list[RawRecord], dict[Any, int]]:
        self.timeouts.append(round(timeout, 6))
        self.max_records.append(max_records)
        if len(self.timeouts) <= self.empty_calls:
            self.clock.now += timeout
            return [], {}
        record = RawRecord(b"{}", "t/0@7", position=PartitionOffset("t", 0, 7))
        return [record], {("t", 0): 8}


def fake_source(
    monkeypatch: pytest.MonkeyPatch, empty_calls: int, **options: Any
) -> tuple[KafkaSource, FakeClient]:
    clock = FakeClock()
    monkeypatch.setattr(source_module.time, "monotonic", clock)
    kafka = KafkaSource("127.0.0.1:9", ["t"], "g", **options)
    kafka._client.close()
    fake = FakeClient(clock, empty_calls)
    kafka._client = fake
    return kafka, fake


def test_a_poll_waits_in_slices_and_returns_the_first_slice_with_records(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kafka, fake = fake_source(monkeypatch, empty_calls=3, batch_size=500, max_batch_wait_ms=50)
    batch = kafka.poll(0.5)
    assert [r.origin for r in batch] == ["t/0@7"]
    assert fake.timeouts == [0.05, 0.05, 0.05, 0.05]
    assert fake.max_records == [500] * 4
    assert kafka.snapshot()["offsets"] == {"t/0": 8}


class FakeMessage:
    """What confluent-kafka's ``consume`` returns, enough for ``ConfluentConsumer.poll``."""

    def __init__(self, offset: int) -> None:
        self._offset = offset

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return "t"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes:
        return b"{}"

    def headers(self) -> None:
        return None

    def key(self) -> bytes:
        return b"L1/weld"


class FakeConfluent:
    """``consume`` that holds ``held`` messages now and ``later`` after any wait."""

    def __init__(self, held: int, later: int) -> None:
        self.held, self.later = held, later
        self.timeouts: list[float] = []

    def consume(self, num_messages: int, timeout: float) -> list[FakeMessage]:
        self.timeouts.append(timeout)
        count, self.held = (self.held, 0) if self.held else (self.later if timeout else 0, 0)
        return [FakeMessage(offset) for offset in range(count)]


def confluent_poll(fake: FakeConfluent, timeout: float) -> list[RawRecord]:
    consumer = ConfluentConsumer.__new__(ConfluentConsumer)  # no broker: the fake consumes
    consumer._consumer, consumer._revoked_in_poll, consumer._assigned = fake, False, set()
    batch, _ = consumer.poll(timeout, 500)
    return batch


def test_records_the_client_already_holds_do_not_wait_for_the_batch() -> None:
    """They came while the last batch was processed: ``consume`` with a timeout held them
    for a whole slice on top of that (p50 115 -> 69 ms at 10,000/s)."""
    held = FakeConfluent(held=3, later=9)
    assert [r.position for r in confluent_poll(held, 0.05)] == [
        PartitionOffset("t", 0, n) for n in range(3)
    ]
    assert held.timeouts == [0]
    empty = FakeConfluent(held=0, later=9)
    assert len(confluent_poll(empty, 0.05)) == 9
    assert empty.timeouts == [0, 0.05]  # nothing held: the slice is waited on
    assert confluent_poll(FakeConfluent(held=0, later=9), 0.0) == []


def test_an_idle_poll_ends_at_its_timeout_with_a_short_last_slice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kafka, fake = fake_source(monkeypatch, empty_calls=99, max_batch_wait_ms=200)
    assert kafka.poll(0.5) == []
    assert fake.timeouts == [0.2, 0.2, 0.1]


def test_zero_waits_a_millisecond_per_slice_and_a_zero_timeout_polls_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kafka, fake = fake_source(monkeypatch, empty_calls=99, max_batch_wait_ms=0)
    assert kafka.poll(0.003) == []
    assert fake.timeouts == [0.001, 0.001, 0.001]
    fake.timeouts.clear()
    assert kafka.poll(0.0) == []
    assert fake.timeouts == [0.0]


def test_a_wait_beyond_a_minute_is_refused() -> None:
    with pytest.raises(ValueError) as caught:
        KafkaSource("127.0.0.1:9", ["t"], "g", max_batch_wait_ms=60_001)
    assert str(caught.value) == "max_batch_wait_ms must be 0..60000, got 60001"
