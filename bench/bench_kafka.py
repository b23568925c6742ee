"""Kafka end-to-end throughput: the SPC pipeline beside raw consume loops on the same topic.

    python bench/bench_kafka.py [--records 200000 | --quick] [--repeats 3]

Starts its own single-node broker (tests.servers.kafka.KafkaBroker), creates a 3-partition
topic, produces N simulated records once (six copies of the simulator's welding line, keyed
by line/station, with the product's producer settings: acks=all, idempotence, gzip), then
times, over that same topic with a fresh consumer group per run, ``--repeats`` times (median):

  1. raw kafka-python      poll(max_records) loop, touching each value, no decode
  2. raw confluent-kafka   consume(num_messages) loop, touching each value
  3. kafka-python + decode raw loop 1 plus the pipeline's msgspec decode of every value
  4. pipeline kafka-python KafkaSource -> Runner(Engine: I-MR + Nelson tests 1-8 on every
                           characteristic and parameter) -> KafkaAlertSink (alerts topic),
                           a counting null sink (points, KPIs), KafkaDeadLetterSink;
                           checkpoint every 50k records or 5 s, committing offsets
  5. pipeline from memory  the same loop and sinks, the same bytes replayed from memory
                           (RawRecords built as KafkaSource builds them, with the same
                           topic/partition/offset positions, so the runner does the same
                           per-partition bookkeeping): processing cost without transport
  6. pipeline, ck source  the same loop with a bench-only confluent-kafka source (not
                           product code) and the product's kafka-python sinks
  7. pipeline, ck in+out   also the alerts through a bench-only confluent-kafka producer
                           sink (same settings: acks=all, idempotence, gzip, linger 5 ms):
                           rows 6 and 7 size the transport choice

Rates are steady-state: the clock starts once the first batch has been handled (the group
join and the first fetch are left out) and stops when the last record is handled; for the
pipeline that includes the final checkpoint (every sink flushed, offsets committed). CPU is
this process's CPU time (all threads, librdkafka's too); the broker's CPU is shown beside
it, since on a small machine the broker competes for the same cores.

Then, once each: a CPU split of the pipeline's own per-record cost (decode alone, Engine
alone, the memory pipeline with null sinks, and the alert manager's clean-point scan timed
by a wrapper) and a cProfile of one kafka-python pipeline run, summed by component, with
the top functions. ``--quick`` (50k) is a smoke test: its timed windows are short (marked ~).
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import heapq
import io
import os
import pstats
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import msgspec  # noqa: E402

from linewatch.connectors import simulator as sim  # noqa: E402
from linewatch.connectors.kafka import (  # noqa: E402
    KafkaAlertSink,
    KafkaDeadLetterSink,
    KafkaSource,
    ensure_topics,
    producer_settings,
)
from linewatch.pipeline.config import parse_config  # noqa: E402
from linewatch.pipeline.decode import decode  # noqa: E402
from linewatch.pipeline.engine import Engine  # noqa: E402
from linewatch.pipeline.models import Alert, DeadLetter, Output, RawRecord, SinkError, WireRecord  # noqa: E402
from linewatch.pipeline.runner import Route, Runner, RunSummary  # noqa: E402
from tests.servers.kafka import KafkaBroker  # noqa: E402

LINES = [f"L{n}" for n in range(1, 7)]
PARTITIONS = 3
BATCH = 5000  # KafkaSource's default batch_size, used by every loop
START = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)


class BenchError(RuntimeError):
    """Something the bench cannot measure around: fail loudly."""


# --------------------------------------------------------------------------- data


def simulated_line(name: str) -> sim.LineSim:
    return dataclasses.replace(sim.welding_line(), line=name)


def spc_config() -> dict[str, Any]:
    """I-MR with all eight Nelson tests on every characteristic and parameter of the line."""
    lines = []
    for name in LINES:
        stations = []
        for station in simulated_line(name).stations:
            stations.append(
                {
                    "name": station.name,
                    "characteristics": [
                        {"name": c.name, "chart": "imr", "rules": "nelson"}
                        for c in station.characteristics
                    ],
                    "parameters": [
                        {
                            "equipment": p.equipment,
                            "name": p.name,
                            "chart": "imr",
                            "rules": "nelson",
                        }
                        for p in station.parameters
                    ],
                }
            )
        lines.append({"name": name, "stations": stations})
    return {"lines": lines}


def simulated_records(n: int) -> list[WireRecord]:
    """``n`` records of six welding lines with the textbook faults injected, in time order."""
    line = simulated_line(LINES[0])
    per_part = (
        sum(len(s.characteristics) + len(s.parameters) + s.inspects for s in line.stations) + 0.1
    )
    minutes = n / len(LINES) / per_part * line.cycle_s / 60 * 1.05 + 1
    streams: list[Iterator[WireRecord]] = [
        sim.simulate(simulated_line(name), START, minutes, sim.welding_faults(), seed=100 + i)
        for i, name in enumerate(LINES)
    ]
    records = []
    for record in heapq.merge(*streams, key=lambda r: r.ts):
        records.append(record)
        if len(records) == n:
            return records
    raise BenchError(f"the simulator gave {len(records)} records, fewer than {n}")


@dataclasses.dataclass(frozen=True, slots=True)
class Message:
    """One produced record as the broker stored it."""

    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes


def produce(
    bootstrap: str, topic: str, records: Sequence[WireRecord], compression: str, timeout_s: float
) -> list[Message]:
    """Produce with the product's producer settings; return every record's partition/offset."""
    from kafka import KafkaProducer

    producer = KafkaProducer(**producer_settings(bootstrap, compression_type=compression))
    encoder = msgspec.json.Encoder()
    sent = []
    try:
        for record in records:
            key, value = record.stream_key.encode(), encoder.encode(record)
            sent.append((key, value, producer.send(topic, value=value, key=key)))
        producer.flush(timeout=timeout_s)
    finally:
        producer.close(timeout=30)
    messages = []
    for key, value, future in sent:
        if not future.is_done or future.failed():
            raise BenchError(f"produce failed: {future.exception!r}")
        meta = future.value
        messages.append(Message(meta.topic, meta.partition, meta.offset, key, value))
    return messages


def check_topic(bootstrap: str, topic: str, n: int) -> dict[int, int]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        ends = consumer.end_offsets(partitions)
    finally:
        consumer.close()
    counts = {tp.partition: offset for tp, offset in ends.items()}
    if sum(counts.values()) != n:
        raise BenchError(f"topic {topic} holds {sum(counts.values())} records, expected {n}")
    return counts


# --------------------------------------------------------------------------- measurement


@dataclasses.dataclass
class Run:
    records: int  # counted in the timed window (all but the first batch)
    wall: float
    cpu: float
    broker_cpu: float

    @property
    def rate(self) -> float:
        return self.records / self.wall

    @property
    def cpu_us(self) -> float:
        return self.cpu / self.records * 1e6

    @property
    def broker_share(self) -> float:
        return self.broker_cpu / self.wall


class Clock:
    """Wall, process CPU and broker CPU from :meth:`start` to :meth:`stop`."""

    def __init__(self, broker_pid: int | None) -> None:
        self.broker_pid = broker_pid
        self.started: tuple[float, float, float] | None = None
        self.first_batch = 0

    def _broker_cpu(self) -> float:
        if self.broker_pid is None:
            return 0.0
        try:
            fields = Path(f"/proc/{self.broker_pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def start(self, first_batch: int) -> None:
        self.first_batch = first_batch
        self.started = (time.perf_counter(), time.process_time(), self._broker_cpu())

    def stop(self, total: int) -> Run:
        if self.started is None:
            raise BenchError("no record arrived")
        wall, cpu, broker = self.started
        counted = total - self.first_batch
        if counted < total // 2:
            raise BenchError(
                f"the first batch held {self.first_batch} of {total} records: "
                "too few records for a steady-state rate (raise --records)"
            )
        return Run(
            counted,
            time.perf_counter() - wall,
            time.process_time() - cpu,
            self._broker_cpu() - broker,
        )


def group_id(row: str) -> str:
    return f"bench-{row}-{uuid.uuid4().hex[:8]}"


def kafka_python_settings(bootstrap: str, group: str) -> dict[str, Any]:
    """What KafkaSource sets (see connectors/kafka.py)."""
    return {
        "bootstrap_servers": bootstrap,
        "group_id": group,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_poll_records": BATCH,
        "fetch_max_bytes": 64 * 1024 * 1024,
        "max_partition_fetch_bytes": 8 * 1024 * 1024,
        "session_timeout_ms": 10_000,
        "heartbeat_interval_ms": 1_000,
        "max_poll_interval_ms": 300_000,
    }


def confluent_settings(bootstrap: str, group: str) -> dict[str, Any]:
    """The same choices in librdkafka's names."""
    return {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "fetch.max.bytes": 64 * 1024 * 1024,
        "max.partition.fetch.bytes": 8 * 1024 * 1024,
        "session.timeout.ms": 10_000,
        "heartbeat.interval.ms": 1_000,
        "max.poll.interval.ms": 300_000,
    }


def raw_kafka_python(
    bootstrap: str, topic: str, n: int, clock: Clock, deadline: float, with_decode: bool = False
) -> Run:
    from kafka import KafkaConsumer

    decoder = msgspec.json.Decoder(WireRecord)  # what pipeline.decode uses
    consumer = KafkaConsumer(**kafka_python_settings(bootstrap, group_id("kp")))
    consumer.subscribe([topic])
    count = size = 0
    try:
        while count < n:
            if time.monotonic() > deadline:
                raise BenchError(f"raw kafka-python: {count} of {n} records before the deadline")
            fetched = consumer.poll(timeout_ms=500, max_records=BATCH)
            got = 0
            for messages in fetched.values():
                if with_decode:
                    for message in messages:
                        decoder.decode(message.value)
                else:
                    for message in messages:
                        size += len(message.value)
                got += len(messages)
            count += got
            if got and clock.started is None:
                clock.start(got)
        run = clock.stop(count)
    finally:
        consumer.close(autocommit=False)
    if count != n:
        raise BenchError(f"raw kafka-python read {count} records, expected {n}")
    return run


def raw_confluent(bootstrap: str, topic: str, n: int, clock: Clock, deadline: float) -> Run:
    from confluent_kafka import Consumer

    consumer = Consumer(confluent_settings(bootstrap, group_id("ck")))
    consumer.subscribe([topic])
    count = size = 0
    try:
        while count < n:
            if time.monotonic() > deadline:
                raise BenchError(f"raw confluent-kafka: {count} of {n} records before the deadline")
            messages: list[Any] = consumer.consume(num_messages=BATCH, timeout=0.5)
            for message in messages:
                if message.error() is not None:
                    raise BenchError(f"confluent-kafka: {message.error()}")
                size += len(message.value())
            count += len(messages)
            if messages and clock.started is None:
                clock.start(len(messages))
        run = clock.stop(count)
    finally:
        consumer.close()
    if count != n:
        raise BenchError(f"raw confluent-kafka read {count} records, expected {n}")
    return run


class ConfluentSource:
    """Bench-only KafkaSource look-alike on confluent-kafka (NOT product code).

    Same RawRecords, manual synchronous commits of the next offsets, rebalance callbacks;
    it exists to measure what the transport switch would buy.
    """

    def __init__(
        self,
        bootstrap: str,
        topics: Sequence[str],
        group: str,
        *,
        batch_size: int = BATCH,
        on_revoke: Callable[[list[tuple[str, int]]], None] | None = None,
        on_assign: Callable[[list[tuple[str, int]]], None] | None = None,
    ) -> None:
        from confluent_kafka import Consumer

        self.batch_size = batch_size
        self.on_revoke = on_revoke
        self.on_assign = on_assign
        self._consumer = Consumer(confluent_settings(bootstrap, group))
        self._consumer.subscribe(list(topics), on_assign=self._assigned, on_revoke=self._revoked)
        self._next: dict[tuple[str, int], int] = {}

    def _assigned(self, consumer: Any, partitions: Any) -> None:
        if self.on_assign is not None:
            self.on_assign(sorted((tp.topic, tp.partition) for tp in partitions))

    def _revoked(self, consumer: Any, partitions: Any) -> None:
        revoked = sorted((tp.topic, tp.partition) for tp in partitions)
        if revoked and self.on_revoke is not None:
            self.on_revoke(revoked)
        for partition in revoked:
            self._next.pop(partition, None)

    def poll(self, timeout: float) -> list[RawRecord]:
        batch: list[RawRecord] = []
        append = batch.append
        next_offsets = self._next
        messages: list[Any] = self._consumer.consume(num_messages=self.batch_size, timeout=timeout)
        for message in messages:
            if message.error() is not None:
                raise BenchError(f"confluent-kafka: {message.error()}")
            topic, partition, offset = message.topic(), message.partition(), message.offset()
            value = message.value()
            headers = message.headers()
            append(
                RawRecord(
                    payload=value if value is not None else b"",
                    origin=f"{topic}/{partition}@{offset}",
                    key=message.key(),
                    headers=tuple((k, v or b"") for k, v in headers) if headers else (),
                    position=(topic, partition, offset),
                )
            )
            next_offsets[(topic, partition)] = offset + 1
        return batch

    def commit(self) -> None:
        from confluent_kafka import TopicPartition

        if self._next:
            self._consumer.commit(
                offsets=[TopicPartition(t, p, o) for (t, p), o in self._next.items()],
                asynchronous=False,
            )

    @property
    def exhausted(self) -> bool:
        return False

    def position(self) -> dict[str, Any]:
        return {"offsets": {f"{t}/{p}": o for (t, p), o in sorted(self._next.items())}}

    def close(self) -> None:
        self._consumer.close()


class ReplaySource:
    """The produced messages from memory, as RawRecords built the way KafkaSource builds them."""

    def __init__(self, messages: Sequence[Message], batch_size: int = BATCH) -> None:
        # Round-robin over partitions in batch-sized runs, as a consumer sees them.
        by_partition: dict[int, list[Message]] = {}
        for message in messages:
            by_partition.setdefault(message.partition, []).append(message)
        self._chunks = [
            chunk
            for start in range(0, len(messages), batch_size)
            for chunk in (m[start : start + batch_size] for m in by_partition.values())
            if chunk
        ]
        self._index = 0

    def poll(self, timeout: float) -> list[RawRecord]:
        if self._index >= len(self._chunks):
            return []
        chunk = self._chunks[self._index]
        self._index += 1
        return [
            RawRecord(
                payload=m.value,
                origin=f"{m.topic}/{m.partition}@{m.offset}",
                key=m.key,
                headers=(),
                position=(m.topic, m.partition, m.offset),
            )
            for m in chunk
        ]

    def commit(self) -> None:
        pass

    @property
    def exhausted(self) -> bool:
        return self._index >= len(self._chunks)

    def position(self) -> dict[str, Any]:
        return {"chunk": self._index}

    def close(self) -> None:
        pass


class Probe:
    """Wraps a source: starts the clock once the first batch is handled, ends after ``n``.

    After the n-th record it reports exhausted and returns no more, so the runner takes its
    final checkpoint at once instead of waiting for an idle timeout.
    """

    def __init__(self, inner: Any, n: int, clock: Clock, deadline: float) -> None:
        self.inner = inner
        self.n = n
        self.clock = clock
        self.deadline = deadline
        self.delivered = 0
        self._done = False

    def poll(self, timeout: float) -> list[RawRecord]:
        if self.delivered and self.clock.started is None:
            self.clock.start(self.delivered)  # the first batch has been handled
        if self.delivered >= self.n:
            self._done = True
            return []
        if time.monotonic() > self.deadline:
            raise BenchError(f"pipeline: {self.delivered} of {self.n} records before the deadline")
        batch: list[RawRecord] = self.inner.poll(timeout)
        self.delivered += len(batch)
        if self.delivered > self.n:
            raise BenchError(f"the source gave {self.delivered} records, expected {self.n}")
        return batch

    def commit(self) -> None:
        self.inner.commit()

    @property
    def exhausted(self) -> bool:
        return self._done

    def position(self) -> dict[str, Any]:
        return dict(self.inner.position())

    def close(self) -> None:
        self.inner.close()


class ConfluentAlertSink:
    """Bench-only alert sink on confluent-kafka's producer (NOT product code)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        from confluent_kafka import Producer

        self.topic = topic
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 5,
                "batch.size": 256 * 1024,
                "compression.type": "gzip",
                "message.timeout.ms": 120_000,
            }
        )
        self._encoder = msgspec.json.Encoder()
        self._errors: list[Any] = []

    def _delivered(self, error: Any, message: Any) -> None:
        if error is not None:
            self._errors.append(error)

    def add(self, item: Output) -> None:
        if not isinstance(item, Alert):
            return
        value, key = self._encoder.encode(item), item.fingerprint.encode()
        while True:
            try:
                self._producer.produce(self.topic, value, key, on_delivery=self._delivered)
                break
            except BufferError:  # the local queue is full: serve deliveries, then retry
                self._producer.poll(0.1)
        self._producer.poll(0)

    def flush(self) -> None:
        left = self._producer.flush(60)
        if left or self._errors:
            errors, self._errors = self._errors, []
            raise SinkError(f"{left} alert(s) unsent, {len(errors)} failed: {errors[:1]!r}")

    def close(self) -> None:
        self.flush()


class CountSink:
    """Null sink: counts what it is given."""

    def __init__(self) -> None:
        self.count = 0

    def add(self, item: Any) -> None:
        self.count += 1

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


@dataclasses.dataclass
class PipelineResult:
    run: Run
    summary: RunSummary
    points: int


def pipeline(
    bootstrap: str,
    topic: str,
    n: int,
    clock: Clock,
    deadline: float,
    transport: str,
    messages: Sequence[Message] = (),
    tag: str = "",
    sinks: str = "kafka-python",
) -> PipelineResult:
    """KafkaSource (or a stand-in) -> Runner(Engine) -> alert sink, null sink, DLQ sink.

    ``sinks``: ``kafka-python`` (the product's KafkaAlertSink and KafkaDeadLetterSink),
    ``confluent`` (bench-only alert sink; the DLQ stays kafka-python, it gets no records)
    or ``null`` (counting sinks only).
    """
    engine = Engine(parse_config(spc_config()))
    holder: dict[str, Runner] = {}

    def revoked(partitions: list[tuple[str, int]]) -> None:
        if "runner" in holder:
            holder["runner"].on_partitions_revoked(partitions)

    def assigned(partitions: list[tuple[str, int]]) -> None:
        if "runner" in holder:
            holder["runner"].on_partitions_assigned(partitions)

    group = group_id(f"pipe-{transport}")
    inner: Any
    if transport == "kafka-python":
        inner = KafkaSource(
            bootstrap, [topic], group, batch_size=BATCH, on_revoke=revoked, on_assign=assigned
        )
    elif transport == "confluent":
        inner = ConfluentSource(bootstrap, [topic], group, on_revoke=revoked, on_assign=assigned)
    elif transport == "memory":
        inner = ReplaySource(messages)
    else:
        raise ValueError(transport)
    points = CountSink()
    alerts: Any
    dead: Any
    if sinks == "null":
        alerts, dead = CountSink(), CountSink()
    else:
        alerts = (
            ConfluentAlertSink(bootstrap, f"{topic}-alerts{tag}")
            if sinks == "confluent"
            else KafkaAlertSink(bootstrap, f"{topic}-alerts{tag}")
        )
        dead = KafkaDeadLetterSink(bootstrap, f"{topic}-dlq{tag}")
    runner = Runner(
        engine,
        Probe(inner, n, clock, deadline),
        [
            Route(alerts, frozenset({"alerts"}), "alerts"),
            Route(points, frozenset({"points", "kpis"}), "null"),
        ],
        dead,
        checkpoint_every_records=50_000,
        checkpoint_every_seconds=5.0,
        poll_timeout=0.5,
    )
    holder["runner"] = runner
    try:
        summary = runner.run()
        run = clock.stop(summary.records_read)
    finally:
        runner.close()
    if summary.records_processed != n or summary.dead_letters:
        raise BenchError(
            f"pipeline ({transport}): {summary.records_processed} of {n} records "
            f"processed, {summary.dead_letters} dead letters "
            f"{summary.dead_letter_reasons[:3]}"
        )
    return PipelineResult(run, summary, points.count)


# --------------------------------------------------------------------------- CPU split


def cpu_split(
    bootstrap: str, topic: str, messages: Sequence[Message], deadline: float
) -> dict[str, float]:
    """Process CPU µs per record: decode alone, Engine.process alone, null-sink pipeline."""
    raws = ReplaySource(messages)
    batches = []
    while not raws.exhausted:
        batches.append(raws.poll(0))
    started = time.process_time()
    decoded = [decode(raw) for batch in batches for raw in batch]
    decode_s = time.process_time() - started
    if any(isinstance(r, DeadLetter) for r in decoded):
        raise BenchError("a produced record does not decode")
    engine = Engine(parse_config(spc_config()))
    process = engine.process
    started = time.process_time()
    for record in decoded:
        process(record)  # type: ignore[arg-type]
    engine_s = time.process_time() - started
    n = len(decoded)
    split = {"decode": decode_s / n * 1e6, "engine": engine_s / n * 1e6}
    result = pipeline(bootstrap, topic, n, Clock(None), deadline, "memory", messages, sinks="null")
    split["null-sinks"] = result.run.cpu_us
    # The alert manager's scan of firing alerts at every plotted point, timed by a wrapper
    # around a private method (skipped if the method is gone).
    from linewatch.pipeline.alerts import AlertManager

    original = getattr(AlertManager, "_count_clean", None)
    if original is not None:
        spent = [0.0]
        clock = time.process_time

        def timed(self: Any, *args: Any) -> Any:
            started = clock()
            try:
                return original(self, *args)
            finally:
                spent[0] += clock() - started

        AlertManager._count_clean = timed  # type: ignore[method-assign,assignment]
        try:
            engine = Engine(parse_config(spc_config()))
            for record in decoded:
                engine.process(record)  # type: ignore[arg-type]
        finally:
            AlertManager._count_clean = original  # type: ignore[method-assign]
        split["count_clean"] = spent[0] / n * 1e6
    return split


COMPONENTS = [
    ("kafka-python", ("/kafka/",)),
    ("confluent-kafka", ("confluent_kafka",)),
    ("decode (msgspec)", ("pipeline/decode.py", "msgspec")),
    ("engine", ("pipeline/engine.py",)),
    ("detectors", ("/detectors/",)),
    ("alerts", ("pipeline/alerts.py",)),
    ("runner", ("pipeline/runner.py", "pipeline/models.py", "bench_kafka.py")),
    ("sinks", ("connectors/kafka.py", "connectors/memory.py")),
]


def component(filename: str) -> str:
    for name, needles in COMPONENTS:
        if any(needle in filename for needle in needles):
            return name
    if filename in ("~",) or filename.startswith("<"):
        return "builtins"
    return "other"


def profile_pipeline(
    bootstrap: str, topic: str, n: int, broker_pid: int | None, deadline: float
) -> tuple[dict[str, float], list[str], float]:
    """cProfile one kafka-python pipeline run: tottime share per component, top functions."""
    profiler = cProfile.Profile()
    clock = Clock(broker_pid)
    profiler.enable()
    try:
        pipeline(bootstrap, topic, n, clock, deadline, "kafka-python", tag="-profile")
    finally:
        profiler.disable()
    stats = pstats.Stats(profiler, stream=io.StringIO())
    by_component: dict[str, float] = {}
    rows = []
    total = 0.0
    for (filename, line, func), (_, calls, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = component(filename)
        if where == "builtins":
            where = builtin_component(func)
        by_component[where] = by_component.get(where, 0.0) + tottime
        total += tottime
        rows.append((tottime, calls, f"{short(filename)}:{line}({func})"))
    rows.sort(reverse=True)
    top = [f"{t:6.2f}s {t / total:5.1%} {calls:>9,} {name}" for t, calls, name in rows[:10]]
    return {k: v / total for k, v in by_component.items()}, top, total


def builtin_component(func: str) -> str:
    if "msgspec" in func:
        return "decode (msgspec)"
    if "socket" in func or "select" in func or "poll" in func or "epoll" in func:
        return "kafka-python"  # socket reads/waits of the consumer and producers
    if "zlib" in func or "decompress" in func or "crc32" in func:
        return "kafka-python"
    return "builtins"


def short(filename: str) -> str:
    for marker in ("site-packages/", str(ROOT) + "/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


# --------------------------------------------------------------------------- main


ROWS = [
    ("raw-kp", "1 raw kafka-python"),
    ("raw-ck", "2 raw confluent-kafka"),
    ("raw-kp-decode", "3 kafka-python + decode"),
    ("pipe-kp", "4 pipeline, kafka-python"),
    ("pipe-mem", "5 pipeline, from memory"),
    ("pipe-ck", "6 pipeline, ck source*"),
    ("pipe-ck2", "7 pipeline, ck in+out*"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--quick", action="store_true", help="50k records")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--compression",
        default="gzip",
        choices=["gzip", "none"],
        help="producer compression (product: gzip)",
    )
    parser.add_argument(
        "--run-timeout", type=float, default=120.0, help="seconds any one measured run may take"
    )
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile run")
    args = parser.parse_args()
    n = 50_000 if args.quick else args.records
    if n < 4 * BATCH or args.repeats < 1:
        parser.error(f"--records must be at least {4 * BATCH}, --repeats >= 1")
    began = time.monotonic()

    started = time.perf_counter()
    records = simulated_records(n)
    print(
        f"simulated {n:,} records of {len(LINES)} welding lines in "
        f"{time.perf_counter() - started:.1f} s",
        flush=True,
    )

    broker = KafkaBroker()
    try:
        broker.start()
        print(
            f"broker {broker.version} on {broker.bootstrap} "
            f"(started in {broker.last_start_seconds:.1f} s)",
            flush=True,
        )
        bootstrap, topic = broker.bootstrap, "bench-line-events"
        ensure_topics(
            bootstrap,
            {topic: PARTITIONS, f"{topic}-alerts": PARTITIONS, f"{topic}-dlq": PARTITIONS},
        )
        started = time.perf_counter()
        messages = produce(bootstrap, topic, records, args.compression, args.run_timeout)
        seconds = time.perf_counter() - started
        counts = check_topic(bootstrap, topic, n)
        size = sum(len(m.value) for m in messages)
        print(
            f"produced {n:,} records ({size / n:.0f} B each, {args.compression}, partitions "
            f"{dict(sorted(counts.items()))}) in {seconds:.1f} s: {n / seconds:,.0f} rec/s "
            "with kafka-python's producer",
            flush=True,
        )
        del records

        runs: dict[str, list[Run]] = {row: [] for row, _ in ROWS}
        alerts: set[int] = set()
        points = 0
        for repeat in range(args.repeats):
            for row, _ in ROWS:
                deadline = time.monotonic() + args.run_timeout
                clock = Clock(broker.pid)
                if row == "raw-kp":
                    run = raw_kafka_python(bootstrap, topic, n, clock, deadline)
                elif row == "raw-ck":
                    run = raw_confluent(bootstrap, topic, n, clock, deadline)
                elif row == "raw-kp-decode":
                    run = raw_kafka_python(bootstrap, topic, n, clock, deadline, with_decode=True)
                else:
                    transport = {
                        "pipe-kp": "kafka-python",
                        "pipe-mem": "memory",
                        "pipe-ck": "confluent",
                        "pipe-ck2": "confluent",
                    }[row]
                    sinks = "confluent" if row == "pipe-ck2" else "kafka-python"
                    result = pipeline(
                        bootstrap, topic, n, clock, deadline, transport, messages, sinks=sinks
                    )
                    run = result.run
                    alerts.add(result.summary.outputs["alerts"])
                    points = result.points
                runs[row].append(run)
            print(
                f"repeat {repeat + 1}/{args.repeats}: "
                + ", ".join(f"{row} {runs[row][-1].rate:,.0f}" for row, _ in ROWS)
                + " rec/s",
                flush=True,
            )
        if len(alerts) != 1:
            raise BenchError(f"pipeline runs disagree on the number of alerts: {sorted(alerts)}")

        split = cpu_split(bootstrap, topic, messages, time.monotonic() + args.run_timeout * 2)
        profile = None
        if not args.no_profile:
            deadline = time.monotonic() + args.run_timeout * 3
            profile = profile_pipeline(bootstrap, topic, n, broker.pid, deadline)
    finally:
        broker.close()

    median = {row: statistics.median(r.rate for r in rs) for row, rs in runs.items()}
    cpu = {row: statistics.median(r.cpu_us for r in rs) for row, rs in runs.items()}
    brk = {row: statistics.median(r.broker_share for r in rs) for row, rs in runs.items()}
    wall = {row: statistics.median(r.wall for r in rs) for row, rs in runs.items()}
    spread = {row: (min(r.rate for r in rs), max(r.rate for r in rs)) for row, rs in runs.items()}
    ck, kp = median["raw-ck"], median["raw-kp"]
    print()
    print(
        f"Kafka throughput: {n:,} records, {PARTITIONS} partitions, {args.compression}, "
        f"batch {BATCH}, median of {args.repeats} (steady state, fresh group each run), "
        f"{os.cpu_count()} CPUs"
    )
    print(
        f"{'':27}{'rec/s':>10}  {'min..max':>17}  {'vs raw ck':>9}  {'vs raw kp':>9}  "
        f"{'CPU us/rec':>10}  {'broker CPU':>10}"
    )
    for row, label in ROWS:
        low, high = spread[row]
        mark = "~" if wall[row] < 0.5 else " "
        print(
            f"{label:26}{mark}{median[row]:>10,.0f}  {low:>8,.0f}..{high:<8,.0f}  "
            f"{median[row] / ck:>9.0%}  {median[row] / kp:>9.0%}  {cpu[row]:>10.1f}  "
            f"{brk[row]:>10.0%}"
        )
    print(
        "* bench-only confluent-kafka source/alert sink, not product code. broker CPU: cores busy"
    )
    if any(w < 0.5 for w in wall.values()):
        print("~ timed window under 0.5 s: noisy, use more --records")
    print(
        f"pipeline output per run: {alerts.pop():,} alerts, {points:,} points+KPIs, 0 dead letters"
    )
    goal = median["pipe-kp"] / ck
    print(
        f"goal: pipeline >= 50% of raw confluent-kafka ({ck / 2:,.0f} rec/s): kafka-python "
        f"pipeline {goal:.0%} ({'met' if goal >= 0.5 else 'NOT met'}); confluent in+out "
        f"{median['pipe-ck2'] / ck:.0%}; no transport at all (row 5) {median['pipe-mem'] / ck:.0%}"
    )

    print()
    mem_us, null_us = cpu["pipe-mem"], split["null-sinks"]
    runner_us = null_us - split["decode"] - split["engine"]
    print(f"CPU per record, us (process CPU, all threads): pipeline from memory {mem_us:.1f} =")
    scan = (
        f" (of which the alert manager's scan of firing alerts per point "
        f"{split['count_clean']:.1f})"
        if "count_clean" in split
        else ""
    )
    print(f"  decode {split['decode']:.1f} + engine {split['engine']:.1f}{scan}")
    print(f"  + runner/RawRecord/routing {runner_us:.1f} (null-sink pipeline {null_us:.1f})")
    print(f"  + kafka-python alert/DLQ sinks {mem_us - null_us:.1f}")
    print(
        f"transport in (row - row 5): kafka-python {cpu['pipe-kp'] - mem_us:+.1f} "
        f"(raw loop {cpu['raw-kp']:.1f}), confluent {cpu['pipe-ck'] - mem_us:+.1f} "
        f"(raw loop {cpu['raw-ck']:.1f}); confluent alert sink instead of kafka-python "
        f"(row 7 - row 6) {cpu['pipe-ck2'] - cpu['pipe-ck']:+.1f}"
    )
    if profile is not None:
        shares, top, total = profile
        print(
            f"cProfile, one kafka-python pipeline run ({total:.1f} s profiled CPU; "
            "share of tottime, main thread):"
        )
        print(
            "  "
            + ", ".join(
                f"{k} {v:.0%}"
                for k, v in sorted(shares.items(), key=lambda kv: -kv[1])
                if v >= 0.005
            )
        )
        for line in top:
            print(f"  {line}")
    print(f"\nbench took {time.monotonic() - began:.0f} s")
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except BenchError as exc:
        print(f"bench_kafka: FAILED: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc
