"""State bytes per characteristic: snapshot size and tracemalloc of the live detector.

    python bench/bench_spc_memory.py

Each chart runs 5,000 seeded observations (phase I included where it has one), then its
``snapshot()`` length and the memory tracemalloc attributes to building and running it
(retained, after the stream) are printed against the 4 KB goal. "first" includes one-off
process-wide caches (rule-name tuples, scipy's distribution machinery); "each" is the
average over 10 further characteristics of the same kind, measured after that warm-up:
the cost that scales with the number of characteristics.
"""

from __future__ import annotations

import gc
import random
import sys
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from linewatch.detectors.base import Detector
from linewatch.detectors.spc import (
    CapabilityChart,
    CChart,
    CusumChart,
    EwmaChart,
    HotellingT2Chart,
    IMRChart,
    LaneyPChart,
    PChart,
    RuleSet,
    UChart,
    XbarRChart,
    XbarSChart,
    ZMRChart,
)

TS = datetime(2026, 1, 1, tzinfo=UTC)
GOAL = 4096


def floats(rng: random.Random) -> Any:
    return rng.gauss(10, 1)


def groups(rng: random.Random) -> Any:
    return [rng.gauss(10, 1) for _ in range(5)]


def counts(rng: random.Random) -> Any:
    return {"count": sum(rng.random() < 0.1 for _ in range(100)), "size": 100}


def vectors(rng: random.Random) -> Any:
    return {"a": rng.gauss(0, 1), "b": rng.gauss(0, 1), "c": rng.gauss(0, 1)}


def parts(rng: random.Random) -> Any:
    return {"part": rng.choice(("A", "B", "C")), "value": rng.gauss(10, 1)}


CASES: list[tuple[str, Callable[[], Detector], Callable[[random.Random], Any]]] = [
    ("I-MR, 8 tests", lambda: IMRChart(phase1=25, rules=RuleSet.nelson()), floats),
    ("Xbar-R n=5", lambda: XbarRChart(phase1=25, rules=RuleSet.nelson()), groups),
    ("Xbar-S n=5", lambda: XbarSChart(phase1=25), groups),
    ("p", lambda: PChart(phase1=25), counts),
    ("c", lambda: CChart(phase1=25), counts),
    ("u", lambda: UChart(phase1=25), counts),
    ("Laney p'", lambda: LaneyPChart(phase1=25), counts),
    ("CUSUM", lambda: CusumChart(phase1=25), floats),
    ("EWMA", lambda: EwmaChart(phase1=25), floats),
    ("T² (3 parameters)", lambda: HotellingT2Chart(names=("a", "b", "c"), phase1=30), vectors),
    ("Z-MR (3 parts)", lambda: ZMRChart(phase1=30), parts),
    ("capability", lambda: CapabilityChart(lsl=6.0, usl=14.0, window=100), floats),
]


def main() -> int:
    print(f"{'chart':20} {'snapshot B':>10} {'first B':>8} {'each B':>7}  each <= 4 KB")
    for label, make, observe in CASES:
        rng = random.Random(11)
        data = [observe(rng) for _ in range(5000)]
        first, detector = measure(make, data, 1)
        each, detector = measure(make, data, 10)
        snapshot = len(detector.snapshot())
        ok = "yes" if snapshot <= GOAL and each <= GOAL else "NO"
        print(f"{label:20} {snapshot:10d} {first:8d} {each:7d}  {ok}")
    return 0


def measure(make: Callable[[], Detector], data: list[Any], count: int) -> tuple[int, Detector]:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    detectors = [make() for _ in range(count)]
    for detector in detectors:
        for x in data:
            detector.update(TS, x)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    total = sum(s.size_diff for s in after.compare_to(before, "filename"))
    return total // count, detectors[0]


if __name__ == "__main__":
    raise SystemExit(main())
