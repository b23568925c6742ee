"""`make bench`'s latency figure: produce → alert on the topic, and → webhook, at a fixed load.

A ``linewatch run`` worker (bench/contenders.py, its own process) reads the topic the
harness produces to at a fixed offered load (records/s, paced in 2 ms steps), each record
stamped with its produce time as its event time (``ts``). A firing alert's ``ts`` and its
webhook ``startsAt`` are the event time of the sample that made it fire, so
``latency = arrival - ts``: on the alerts topic (a consumer in this process) and at a
:class:`~linewatch.connectors.testing.webhook.WebhookReceiver` (Alertmanager v4 bodies,
``group_wait: 0s``, one group per alert fingerprint). Only the first firing of each alert
counts. The measuring threads share this process with the producer, so what they add is in
the figure (an upper bound). ``to_alert_produced`` is the part spent in the worker (the
alert message's CreateTime minus ``ts``); ``to_alerts_topic_by_tenth_ms`` rises along the
run when the worker cannot keep up (``worker_records_per_s`` below the offered load): then
the figure is a backlog, not a wait.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from linewatch.connectors.kafka import ensure_topics
from linewatch.connectors.kafka.confluent import consumer_settings, producer_settings
from linewatch.connectors.testing.webhook import WebhookReceiver
from linewatch.pipeline.models import WireRecord

__all__ = ["main", "measure_latency", "percentile"]

HERE = Path(__file__).resolve().parent


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-quantile (0..1) by linear interpolation between order statistics.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 0.5)
    2.5
    >>> percentile([5.0], 0.99)
    5.0
    """
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _alert_reader(
    bootstrap: str,
    topic: str,
    stop: threading.Event,
    ready: threading.Event,
    out: list[float],
    produced: list[float],
    stamps: list[float],
) -> None:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(consumer_settings(bootstrap, f"bench-lat-{uuid.uuid4().hex[:8]}"))
    parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in parts])
    seen: set[str] = set()
    ready.set()
    try:
        while not stop.is_set():
            # poll, not consume(500, timeout): consume holds what it has until it has 500
            # or the timeout passed, which would add up to that timeout to every figure
            message = consumer.poll(0.1)
            if message is None or message.error() is not None:
                continue
            arrived = time.time()
            alert = json.loads(message.value())
            if alert.get("status") != "firing" or alert["alert_id"] in seen:
                continue
            seen.add(alert["alert_id"])
            ts = datetime.fromisoformat(alert["ts"]).timestamp()
            out.append(arrived - ts)
            stamps.append(ts)
            # the worker's send time (CreateTime): the part spent in the worker
            produced.append(message.timestamp()[1] / 1000 - ts)
    finally:
        consumer.close()


def _wait_stable(bootstrap: str, group: str, timeout: float) -> None:
    """Block until the worker's consumer group is stable with partitions assigned."""
    from confluent_kafka import ConsumerGroupState
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            description = admin.describe_consumer_groups([group])[group].result(timeout=5)
        except Exception:  # the group does not exist yet
            description = None
        if (
            description is not None
            and description.state == ConsumerGroupState.STABLE
            and any(m.assignment.topic_partitions for m in description.members)
        ):
            return
        time.sleep(0.2)
    raise RuntimeError(f"latency: consumer group {group} not stable within {timeout:.0f} s")


def _webhook_latencies(hook: WebhookReceiver) -> list[float]:
    first: dict[str, float] = {}
    for request in list(hook.received):
        for alert in request.json().get("alerts", []):
            if alert.get("status") != "firing" or alert["fingerprint"] in first:
                continue
            starts = datetime.fromisoformat(alert["startsAt"].replace("Z", "+00:00"))
            first[alert["fingerprint"]] = request.at - starts.timestamp()
    return list(first.values())


def _by_tenth(values: list[float]) -> list[float]:
    """The median latency of each tenth of the run, in arrival order (ms)."""
    n = len(values)
    if n < 10:
        return []
    return [
        round(percentile(values[n * k // 10 : n * (k + 1) // 10], 0.5) * 1000, 1) for k in range(10)
    ]


def _summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    return {
        "count": len(values),
        "p50_ms": round(percentile(values, 0.5) * 1000, 2),
        "p99_ms": round(percentile(values, 0.99) * 1000, 2),
        "max_ms": round(max(values) * 1000, 2),
    }


def measure_latency(
    bootstrap: str,
    records: Sequence[WireRecord],
    rate: int,
    lines: list[dict[str, Any]],
    work: Path,
    source_overrides: dict[str, Any] | None = None,
    timeout: float = 180.0,
    notify: bool = True,
) -> dict[str, Any]:
    """Run one worker at ``rate`` records/s over ``records``; p50/p99 to topic and webhook.

    ``notify=False`` leaves the notifications out (the alerts topic alone: what the
    notifier's thread costs the runner's).
    """
    from confluent_kafka import Producer

    tag = uuid.uuid4().hex[:6]
    topic, alerts, dlq = f"lat-{tag}", f"lat-{tag}-alerts", f"lat-{tag}-dlq"
    ensure_topics(bootstrap, {topic: 3, alerts: 3, dlq: 3})
    work.mkdir(parents=True, exist_ok=True)
    hook = WebhookReceiver().start()
    config: dict[str, Any] = {
        "lines": lines,
        "source": {
            "type": "kafka",
            "bootstrap": bootstrap,
            "topics": [topic],
            "group_id": f"bench-lat-{tag}",
            **(source_overrides or {}),
        },
        "sinks": [{"type": "kafka", "bootstrap": bootstrap, "alerts_topic": alerts}],
        "dead_letters": {"type": "kafka", "bootstrap": bootstrap, "topic": dlq},
        "notifications": {
            "receivers": [{"name": "hook", "type": "webhook", "url": hook.url + "/hook"}],
            "route": {
                "receiver": "hook",
                "group_by": ["line", "station", "characteristic", "chart", "rule"],
                "group_wait": "0s",
                "group_interval": "1s",
            },
            "state_dir": str(work / "notify"),
            "silences_path": str(work / "silences.json"),
            "delivery": {"spool_dir": str(work / "spool"), "drain": "2s"},
        },
    }
    if not notify:
        del config["notifications"]
    config_path = work / "config.json"
    config_path.write_text(json.dumps(config))
    worker = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "contenders.py"),
            "linewatch",
            "--records",
            str(len(records)),
            "--config",
            str(config_path),
            "--state-dir",
            str(work / "state"),
            "--timeout",
            str(timeout),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stop, ready = threading.Event(), threading.Event()
    topic_latencies: list[float] = []
    produced_latencies: list[float] = []
    alert_stamps: list[float] = []
    reader = threading.Thread(
        target=_alert_reader,
        args=(bootstrap, alerts, stop, ready, topic_latencies, produced_latencies, alert_stamps),
        daemon=True,
    )
    reader.start()
    ready.wait(30)
    producer = Producer(producer_settings(bootstrap, **{"linger.ms": 1}))
    encode = msgspec.json.Encoder().encode
    try:
        _wait_stable(bootstrap, config["source"]["group_id"], timeout=60.0)
        step = 0.002
        per_step = max(1, round(rate * step))
        began = time.perf_counter()
        began_wall = time.time()
        for start in range(0, len(records), per_step):
            due = began + (start // per_step) * step
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            now = datetime.now(UTC)
            for record in records[start : start + per_step]:
                stamped = msgspec.structs.replace(record, ts=now)
                producer.produce(topic, encode(stamped), record.stream_key.encode())
            producer.poll(0)
        offered_s = time.perf_counter() - began
        producer.flush(30)
        stdout, stderr = worker.communicate(timeout=timeout)
        time.sleep(2.5)  # the last notifications (group_interval 1 s)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        stop.set()
        reader.join(10)
        hook.close()
    if worker.returncode != 0:
        raise RuntimeError(f"latency worker failed: {stderr.strip()[-2000:]}")
    run = json.loads(stdout.strip().splitlines()[-1])
    return {
        "offered_records_per_s": rate,
        "achieved_offered_records_per_s": round(len(records) / offered_s),
        "records": len(records),
        "source": config["source"] | {"bootstrap": "-"},
        "worker_alerts": run.get("alerts"),
        "to_alerts_topic": _summary(topic_latencies),
        # Steady state: the alerts of records produced after the first second (the worker's
        # first batches pay its warm-up: first imports, the first checkpoint, caches).
        "to_alerts_topic_after_1s": _summary(
            [
                latency
                for latency, ts in zip(topic_latencies, alert_stamps, strict=True)
                if ts >= began_wall + 1.0
            ]
        ),
        "to_alert_produced": _summary(produced_latencies),
        "to_webhook": _summary(_webhook_latencies(hook)),
        # A latency that grows along the run is a backlog: the worker fell behind the load.
        "to_alerts_topic_by_tenth_ms": _by_tenth(topic_latencies),
        "worker_records_per_s": round(run["records"] / run["wall"]) if run["wall"] else None,
        "worker_cpu_share": round(run["cpu"] / run["wall"], 2) if run["wall"] else None,
    }


def main(argv: list[str] | None = None) -> int:
    """The latency figure alone: its own broker, each rate ``--repeats`` times, JSON lines."""
    import argparse
    import tempfile

    sys.path.insert(0, str(HERE.parent))
    from bench.workload import simulated_records, spc_lines
    from linewatch.connectors.testing.kafka import KafkaBroker

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--rates", default="10000,2000", help="offered records/s, comma-separated")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10, help="of records at each rate")
    parser.add_argument("--source", default="{}", help="source overrides (JSON)")
    parser.add_argument("--no-notify", action="store_true", help="the alerts topic alone")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="lw-latency-") as tmp:
        work = Path(tmp)
        broker = KafkaBroker(
            data_dir=work / "kafka", config={"num.partitions": 3, "log.retention.ms": -1}
        )
        broker.start()
        try:
            for rate in (int(r) for r in args.rates.split(",")):
                for repeat in range(args.repeats):
                    result = measure_latency(
                        broker.bootstrap,
                        simulated_records(rate * args.seconds),
                        rate,
                        spc_lines(),
                        work / f"lat-{rate}-{repeat}",
                        json.loads(args.source),
                        notify=not args.no_notify,
                    )
                    result["load_average"] = Path("/proc/loadavg").read_text().split()[:3]
                    print(json.dumps(result), flush=True)
        finally:
            broker.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
