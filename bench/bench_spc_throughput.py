"""Per-sample streaming throughput of I-MR with all eight Nelson tests, beside numpy.

    python bench/bench_spc_throughput.py [--n 300000]

Both passes see the same seeded N(0, 1) data against known limits (center 0, sigma 1):
the streaming pass calls ``IMRChart.update`` once per sample (two PlotPoints, eight tests
on the individuals chart, test 1 on the moving ranges); the numpy pass computes the moving
ranges, zones and test-1 flags vectorised. The ratio is streaming time / numpy time.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detectors.spc import IMRChart, RuleSet


def numpy_pass(x: np.ndarray) -> int:
    mr = np.abs(np.diff(x))
    beyond = (x > 3.0) | (x < -3.0)
    zone = np.minimum(np.ceil(np.abs(x)), 4)
    mr_beyond = mr > 1.128 + 3 * 0.853
    return int(beyond.sum() + mr_beyond.sum() + zone.sum() * 0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=300_000)
    args = parser.parse_args()
    x = np.random.default_rng(7).standard_normal(args.n)
    values = x.tolist()
    ts = datetime(2026, 1, 1, tzinfo=UTC)

    started = time.perf_counter()
    for _ in range(5):
        numpy_pass(x)
    numpy_seconds = (time.perf_counter() - started) / 5

    chart = IMRChart(center=0.0, sigma=1.0, rules=RuleSet.nelson())
    update = chart.update
    started = time.perf_counter()
    signals = 0
    for value in values:
        signals += len(update(ts, value).signals)
    stream_seconds = time.perf_counter() - started

    print(f"samples                 {args.n}")
    print(f"streaming update()      {args.n / stream_seconds:12,.0f} samples/s  "
          f"({stream_seconds * 1e6 / args.n:.2f} us/sample, {signals} signals)")
    print(f"numpy vectorised        {args.n / numpy_seconds:12,.0f} samples/s")
    print(f"ratio stream/numpy time {stream_seconds / numpy_seconds:12.1f}x")
    print("goal 1,000,000 samples/s/core: "
          f"{'met' if args.n / stream_seconds >= 1e6 else 'not met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
