"""The Quix Streams contenders of `make bench`, run in bench/.venv-quix (its own venv).

    bench/.venv-quix/bin/python bench/quix_contender.py ROW --bootstrap H:P --topic T --records N

Quix Streams pins its own confluent-kafka, so it never goes into the project's venv; the
harness runs this file in a venv made from bench/requirements-quix.txt, with the checkout
on ``sys.path`` for Linewatch's detectors (numpy and scipy only; no Linewatch pipeline).

* ``quix-pass``: a Quix app that reads the topic with Quix's JSON deserializer and does
  nothing with it (the framework's floor: poll, deserialise, the dataframe, commits).
* ``quix-spc``: the same SPC job Linewatch runs: Linewatch's own ``IMRChart`` with the
  eight Nelson tests (phase I of 25, Linewatch's default) per line/station/characteristic
  and per line/station/equipment.parameter, the detector kept in a dict in the process
  (not in Quix's state store, which would also make it restartable: this is lighter than
  Linewatch's checkpointed state), one JSON message per signalled sample to a topic.

The clock starts at the first record (the group join and first fetch left out) and stops
when ``app.run()`` returns after the N-th record (its final commit and flush included).
Prints one JSON line: ``{"records": counted, "wall": s, "cpu": s, "signals": k}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

__all__ = ["main"]


def run(row: str, bootstrap: str, topic: str, n: int, timeout: float) -> dict[str, Any]:
    from quixstreams import Application

    from linewatch.detectors.spc import IMRChart, RuleSet

    group = f"bench-quix-{uuid.uuid4().hex[:8]}"
    state_dir = Path("/tmp") / f"{group}-state"
    app = Application(
        broker_address=bootstrap,
        consumer_group=group,
        auto_offset_reset="earliest",
        loglevel="WARNING",
        state_dir=state_dir,
        use_changelog_topics=False,
    )
    source = app.topic(topic, value_deserializer="json")
    sdf = app.dataframe(source)
    clock: dict[str, float] = {}
    seen = [0]
    signals = [0]
    deadline = time.monotonic() + timeout

    def count(value: Any) -> None:
        if not seen[0]:
            clock.update(wall=time.perf_counter(), cpu=time.process_time())
        seen[0] += 1
        if seen[0] >= n or time.monotonic() > deadline:
            app.stop()

    if row == "quix-spc":
        charts: dict[str, IMRChart] = {}
        rules = RuleSet.nelson()

        def spc(value: dict[str, Any]) -> list[dict[str, Any]]:
            kind = value.get("kind")
            if kind == "measurement":
                name = value["characteristic"]
            elif kind == "parameter":
                name = f"{value['equipment']}.{value['name']}"
            else:
                return []
            key = f"{value['line']}/{value['station']}/{name}"
            chart = charts.get(key)
            if chart is None:
                chart = charts[key] = IMRChart(phase1=25, rules=rules)
            evaluation = chart.update(datetime.fromisoformat(value["ts"]), float(value["value"]))
            if not evaluation.signals:
                return []
            signals[0] += 1
            return [
                {
                    "key": key,
                    "ts": value["ts"],
                    "rules": [signal.rule for signal in evaluation.signals],
                }
            ]

        out = app.topic(f"{topic}-quix-signals-{uuid.uuid4().hex[:6]}", value_serializer="json")
        sdf = sdf.update(count)
        sdf = sdf.apply(spc, expand=True)
        sdf.to_topic(out)
    else:
        sdf = sdf.update(count)
    app.run(sdf)
    ended = (time.perf_counter(), time.process_time())
    if "wall" not in clock:
        raise RuntimeError("quix: no record arrived")
    return {
        "records": seen[0] - 1,
        "wall": ended[0] - clock["wall"],
        "cpu": ended[1] - clock["cpu"],
        "signals": signals[0],
        "timed_out": seen[0] < n,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("row", choices=["quix-pass", "quix-spc"])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--records", type=int, required=True)
    parser.add_argument("--timeout", type=float, default=180.0)
    args = parser.parse_args(argv)
    result = run(args.row, args.bootstrap, args.topic, args.records, args.timeout)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
