"""Memory at scale: state bytes per characteristic, and the RSS of an Engine at 10,000 of them.

    python bench/bench_memory.py [--characteristics 10000] [--points 40] [--json]

* **state bytes per characteristic**: tracemalloc's retained growth per added I-MR chart
  with the eight Nelson tests after 5,000 observations, and the length of its snapshot
  (what a checkpoint or the changelog keeps), from bench/bench_spc_memory.py's ``measure``;
* **RSS**: one process builds the pipeline's ``Engine`` over a config of N I-MR
  characteristics (eight tests each; 10 lines of 10 stations) and feeds each ``--points``
  measurements (past its phase I of 25), then reads its resident set (``VmRSS``); the
  growth over the same process before the config was parsed, per characteristic.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_spc_memory import measure
from linewatch.detectors.spc import IMRChart, RuleSet
from linewatch.pipeline.config import parse_config
from linewatch.pipeline.engine import Engine
from linewatch.pipeline.models import Measurement

__all__ = ["main", "rss_bytes"]

T0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)


def rss_bytes() -> int:
    """This process's resident set size, from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def engine_rss(characteristics: int, points: int) -> dict[str, Any]:
    per_station = max(1, characteristics // 100)
    lines = []
    made = 0
    for line in range(10):
        stations = []
        for station in range(10):
            count = min(per_station, characteristics - made)
            if count <= 0:
                break
            made += count
            stations.append(
                {
                    "name": f"s{station}",
                    "characteristics": [
                        {"name": f"c{c}", "chart": "imr", "rules": "nelson"} for c in range(count)
                    ],
                }
            )
        if stations:
            lines.append({"name": f"L{line}", "stations": stations})
    gc.collect()
    before = rss_bytes()
    engine = Engine(parse_config({"lines": lines}))
    fed = 0
    for k in range(points):
        ts = T0 + timedelta(seconds=k)
        value = 10.0 + ((k * 7919) % 13 - 6) / 10
        for spec in lines:
            for station in spec["stations"]:
                for char in station["characteristics"]:
                    engine.process(
                        Measurement(
                            ts=ts,
                            line=spec["name"],
                            station=station["name"],
                            characteristic=char["name"],
                            value=value,
                        )
                    )
                    fed += 1
    gc.collect()
    after = rss_bytes()
    return {
        "characteristics": made,
        "points_each": points,
        "measurements": fed,
        "rss_mb": round(after / 2**20, 1),
        "rss_before_mb": round(before / 2**20, 1),
        "rss_bytes_per_characteristic": (after - before) // made,
        "snapshot_bytes_total": len(json.dumps(engine.snapshot(), default=str)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--characteristics", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=40)
    parser.add_argument("--json", action="store_true", help="one JSON line only")
    args = parser.parse_args(argv)
    import random

    rng = random.Random(11)
    data = [rng.gauss(10, 1) for _ in range(5000)]
    each, detector = measure(lambda: IMRChart(phase1=25, rules=RuleSet.nelson()), data, 10)
    result = {
        "state_bytes_per_characteristic": each,
        "snapshot_bytes_per_characteristic": len(detector.snapshot()),
        **engine_rss(args.characteristics, args.points),
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:36} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
