"""One throughput contender of `make bench`, alone in its own process (bench/harness.py).

    python bench/contenders.py ROW --bootstrap HOST:PORT --topic T --records N [--config F]

Rows: ``raw-confluent``, ``raw-confluent-decode``, ``raw-kafka-python``,
``raw-kafka-python-decode`` (consume loops of the two clients with the product's consumer
settings, touching each value, or decoding it with the pipeline's decoder) and ``linewatch``
(the job ``linewatch run`` builds from the ``--config`` JSON, with its real KafkaSource,
per-key offset tracker, sinks and checkpoints; only argparse and the progress bar are left
out). Each run is the first and only consumer of its process, in a fresh consumer group.

The clock starts once the first batch has arrived (group join and first fetch left out)
and stops when the N-th record is handled; for ``linewatch`` that includes the final
checkpoint (every sink flushed, offsets committed). One JSON line goes to stdout:
``{"records": counted, "wall": s, "cpu": s}``, ``records`` the records after the clock
started. ``--ready-file``/``--go-file`` line up several workers of one group (scale-out).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

__all__ = ["main"]

BATCH = 5000  # the Kafka source's default batch_size, used by every loop


class BenchError(RuntimeError):
    """Something the bench cannot measure around: it fails loudly."""


def _result(records: int, wall: float, cpu: float, **extra: Any) -> dict[str, Any]:
    if records <= 0 or wall <= 0:
        raise BenchError(f"nothing measured ({records} records in {wall:.3f} s)")
    return {"records": records, "wall": wall, "cpu": cpu, **extra}


def raw_confluent(
    bootstrap: str, topic: str, n: int, decode: bool, timeout: float
) -> dict[str, Any]:
    from confluent_kafka import Consumer

    from linewatch.connectors.kafka.confluent import consumer_settings
    from linewatch.pipeline.decode import decode as decode_record
    from linewatch.pipeline.models import DeadLetter, RawRecord

    consumer = Consumer(consumer_settings(bootstrap, f"bench-ck-{uuid.uuid4().hex[:8]}"))
    consumer.subscribe([topic])
    seen, counted, touched, bad = 0, 0, 0, 0
    started: tuple[float, float] | None = None
    deadline = time.monotonic() + timeout
    try:
        while seen < n:
            if time.monotonic() > deadline:
                raise BenchError(f"raw confluent-kafka: {seen} of {n} records before the deadline")
            messages = consumer.consume(num_messages=BATCH, timeout=0.5)
            if not messages:
                continue
            if started is None:
                started = (time.perf_counter(), time.process_time())
            for message in messages:
                if message.error() is not None:
                    raise BenchError(f"raw confluent-kafka: {message.error()}")
                value = message.value()
                if decode:
                    if isinstance(decode_record(RawRecord(payload=value, origin="")), DeadLetter):
                        bad += 1
                else:
                    touched += len(value)
            seen += len(messages)
            counted += len(messages)
        assert started is not None
        wall, cpu = time.perf_counter() - started[0], time.process_time() - started[1]
    finally:
        consumer.close()
    if bad:
        raise BenchError(f"raw confluent-kafka: {bad} records did not decode")
    return _result(counted, wall, cpu, bytes=touched)


def raw_kafka_python(
    bootstrap: str, topic: str, n: int, decode: bool, timeout: float
) -> dict[str, Any]:
    from kafka import KafkaConsumer

    from linewatch.connectors.kafka.kafka_python import consumer_settings
    from linewatch.pipeline.decode import decode as decode_record
    from linewatch.pipeline.models import DeadLetter, RawRecord

    consumer = KafkaConsumer(
        **consumer_settings(bootstrap, f"bench-kp-{uuid.uuid4().hex[:8]}", BATCH)
    )
    consumer.subscribe([topic])
    seen, counted, touched, bad = 0, 0, 0, 0
    started: tuple[float, float] | None = None
    deadline = time.monotonic() + timeout
    try:
        while seen < n:
            if time.monotonic() > deadline:
                raise BenchError(f"raw kafka-python: {seen} of {n} records before the deadline")
            polled = consumer.poll(timeout_ms=500, max_records=BATCH)
            if not polled:
                continue
            if started is None:
                started = (time.perf_counter(), time.process_time())
            for messages in polled.values():
                for message in messages:
                    value = message.value
                    if decode:
                        raw = RawRecord(payload=value, origin="")
                        if isinstance(decode_record(raw), DeadLetter):
                            bad += 1
                    else:
                        touched += len(value)
                seen += len(messages)
                counted += len(messages)
        assert started is not None
        wall, cpu = time.perf_counter() - started[0], time.process_time() - started[1]
    finally:
        consumer.close()
    if bad:
        raise BenchError(f"raw kafka-python: {bad} records did not decode")
    return _result(counted, wall, cpu, bytes=touched)


def linewatch(
    config_path: Path,
    n: int,
    timeout: float,
    state_dir: Path,
    ready_file: Path | None,
    go_file: Path | None,
    per_record: bool = False,
) -> dict[str, Any]:
    """The job ``linewatch run --config F --reset-state [--per-record]`` builds, timed from
    its first batch."""
    from linewatch.pipeline.config import parse_config
    from linewatch.pipeline.job import build_job
    from linewatch.pipeline.runner import RunSummary

    config = parse_config(json.loads(config_path.read_text()))
    job = build_job(
        config, mode="run", state_dir=state_dir, reset_state=True, columnar=not per_record
    )
    runner = job.runner
    clock: dict[str, float] = {}
    deadline = time.monotonic() + timeout

    def on_batch(summary: RunSummary) -> None:
        # After each handled batch: the first one starts the clock.
        if "wall" not in clock and summary.records_read:
            clock.update(
                wall=time.perf_counter(),
                cpu=time.process_time(),
                first=summary.records_read,
                t0=time.time(),
            )
        if summary.records_read > clock.get("read", 0):
            # The last batch with records: where a run that ends idle (scale-out) stops.
            clock.update(
                read=summary.records_read,
                last_wall=time.perf_counter(),
                last_cpu=time.process_time(),
                t1=time.time(),
            )
        if summary.records_read >= n or time.monotonic() > deadline:
            runner.request_stop()  # the runner takes its final checkpoint, then returns

    runner.on_batch = on_batch
    if ready_file is not None and go_file is not None:
        ready_file.write_text("ready")
        while not go_file.exists():
            if time.monotonic() > deadline:
                raise BenchError("linewatch: no go signal before the deadline")
            time.sleep(0.01)
    summary = job.run()
    ended = (time.perf_counter(), time.process_time())
    job.finish()
    if "wall" not in clock:
        if ready_file is not None:  # a scale-out worker the group gave no data
            return {"records": 0, "wall": 0.0, "cpu": 0.0, "read": 0, "processed": 0}
        raise BenchError("linewatch: no record arrived")
    if summary.dead_letters:
        raise BenchError(
            f"linewatch: {summary.dead_letters} dead letters {summary.dead_letter_reasons[:3]}"
        )
    counted = summary.records_read - int(clock["first"])
    if counted <= 0 and ready_file is not None:
        # A scale-out worker whose whole share came in its first batch: nothing to time
        # (the clock starts after that batch), but its records count as read.
        return {
            "records": 0,
            "wall": 0.0,
            "cpu": 0.0,
            "read": summary.records_read,
            "processed": summary.records_processed,
            "skipped": summary.records_skipped,
        }
    idle_end = summary.records_read < n  # the source went idle (idle_exit_s): no checkpoint
    if idle_end:
        ended = (clock["last_wall"], clock["last_cpu"])
    return _result(
        counted,
        ended[0] - clock["wall"],
        ended[1] - clock["cpu"],
        t0=clock["t0"],
        t1=clock["t1"] if idle_end else time.time(),
        read=summary.records_read,
        processed=summary.records_processed,
        skipped=summary.records_skipped,
        alerts=summary.outputs.get("alerts", 0),
        points=summary.outputs.get("points", 0),
        rebalances=summary.rebalances,
        timed_out=idle_end and time.monotonic() > deadline,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "row",
        choices=[
            "raw-confluent",
            "raw-confluent-decode",
            "raw-kafka-python",
            "raw-kafka-python-decode",
            "linewatch",
        ],
    )
    parser.add_argument("--bootstrap", default="")
    parser.add_argument("--topic", default="")
    parser.add_argument("--records", type=int, required=True)
    parser.add_argument("--config", type=Path, help="linewatch: the job's config (JSON)")
    parser.add_argument("--state-dir", type=Path, help="linewatch: its checkpoint dir")
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("--ready-file", type=Path)
    parser.add_argument("--go-file", type=Path)
    parser.add_argument("--per-record", action="store_true", help="linewatch: no columnar lane")
    args = parser.parse_args(argv)
    try:
        if args.row.startswith("raw-confluent"):
            result = raw_confluent(
                args.bootstrap, args.topic, args.records, args.row.endswith("decode"), args.timeout
            )
        elif args.row.startswith("raw-kafka-python"):
            result = raw_kafka_python(
                args.bootstrap, args.topic, args.records, args.row.endswith("decode"), args.timeout
            )
        else:
            if args.config is None or args.state_dir is None:
                parser.error("linewatch needs --config and --state-dir")
            result = linewatch(
                args.config,
                args.records,
                args.timeout,
                args.state_dir,
                args.ready_file,
                args.go_file,
                args.per_record,
            )
    except BenchError as exc:
        print(f"contenders {args.row}: FAILED: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
