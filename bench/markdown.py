"""The README's benchmark table, from a `make bench` results.json.

python bench/markdown.py [bench/results.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["markdown"]

LABELS = {
    "raw_confluent": "raw confluent-kafka consume loop, no decode",
    "raw_confluent_decode": "raw confluent-kafka + the pipeline's decoder",
    "raw_kafka_python": "raw kafka-python consume loop, no decode",
    "raw_kafka_python_decode": "raw kafka-python + the pipeline's decoder",
    "quix_pass": "Quix Streams app, JSON in, nothing done",
    "quix_spc": "Quix Streams app running Linewatch's `IMRChart` (8 tests) per key, signals to a topic",
    "linewatch_kafka": "`linewatch run`, kafka in, alerts and DLQ to Kafka",
    "linewatch_influx": "`linewatch run`, kafka in, alerts, points and KPIs to InfluxDB",
}


def markdown(results: dict[str, Any]) -> str:
    rows, ratios = results["throughput"], results["ratios"]
    lines = [
        "| contender | records/s | min..max | vs raw confluent-kafka | CPU µs/record |",
        "|---|---:|---:|---:|---:|",
    ]
    for key, label in LABELS.items():
        r = rows[key]
        lines.append(
            f"| {label} | {r['records_per_s']:,} | {r['min']:,}..{r['max']:,} | "
            f"{ratios[f'{key}_vs_raw_confluent']:.2f} | {r['cpu_us_per_record']:.1f} |"
        )
    lines += ["", "| latency, produce → | offered/s | alerts | p50 ms | p99 ms | max ms |"]
    lines.append("|---|---:|---:|---:|---:|---:|")
    for name, lat in results["latency"].items():
        for path in ("to_alerts_topic", "to_webhook"):
            f = lat[path]
            where = "alerts topic" if path == "to_alerts_topic" else "webhook"
            lines.append(
                f"| {where} ({name}) | {lat['offered_records_per_s']:,} | {f['count']} | "
                f"{f['p50_ms']} | {f['p99_ms']} | {f['max_ms']} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    path = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "results.json")
    print(markdown(json.loads(path.read_text())))
