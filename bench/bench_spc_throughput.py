"""Throughput of I-MR with all eight Nelson tests: per-sample, batch and columnar, beside numpy.

    python bench/bench_spc_throughput.py [--n 300000] [--repeat 3]

All contenders see the same seeded N(0, 1) data against known limits (center 0, sigma 1),
each in its own process, ``--repeat`` runs, the median kept (the machine is shared: read
the ratios, not the absolute figures):

* **numpy**: moving ranges, zones and test-1 flags vectorised (no objects, no run tests):
  the baseline every ratio is against;
* **streaming**: ``IMRChart.update`` once per sample (two PlotPoints, eight tests on the
  individuals chart, test 1 on the moving ranges);
* **batch**: ``IMRChart.update_many`` over the whole list (numpy rule engine, the same
  Evaluation objects built in a loop);
* **columnar**: ``IMRChart.update_batch`` over the numpy array, and its signals built
  (``IMRColumns.signals()``): what the hot path takes when no sink takes chart points;
* **generic**: the unspecialised engine (``PhaseIChart.update``) the fast paths replace,
  on the first 50,000 samples.

The parent checks, on 50,000 samples, that all paths give the same evaluations.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from linewatch.detectors.spc import IMRChart, PhaseIChart, RuleSet

TS = datetime(2026, 1, 1, tzinfo=UTC)
CONTENDERS = ("numpy", "streaming", "batch", "columnar", "generic")
GOALS = {"streaming": 1_000_000, "columnar": 5_000_000}


def numpy_pass(x: np.ndarray) -> int:
    mr = np.abs(np.diff(x))
    beyond = (x > 3.0) | (x < -3.0)
    zone = np.minimum(np.ceil(np.abs(x)), 4)
    mr_beyond = mr > 1.128 + 3 * 0.853
    return int(beyond.sum() + mr_beyond.sum() + zone.sum() * 0)


def make() -> IMRChart:
    return IMRChart(center=0.0, sigma=1.0, rules=RuleSet.nelson())


def streaming(values: list[float], stamps: list[datetime]) -> int:
    update = make().update
    signals = 0
    for value in values:
        signals += len(update(TS, value).signals)
    return signals


def batch(values: list[float], stamps: list[datetime]) -> int:
    return sum(len(e.signals) for e in make().update_many(stamps, values))


def columnar(x: np.ndarray, stamps: list[datetime]) -> int:
    return len(make().update_batch(stamps, x).signals())


def generic(values: list[float]) -> int:
    chart = make()
    update = PhaseIChart.update
    return sum(len(update(chart, TS, value).signals) for value in values)


def data(n: int) -> np.ndarray:
    return np.random.default_rng(7).standard_normal(n)


def run_contender(name: str, n: int) -> tuple[float, int, int]:
    """One timed run: seconds, samples timed, signals."""
    x = data(n)
    values, stamps = x.tolist(), [TS] * n
    started = time.perf_counter()
    if name == "numpy":
        for _ in range(20):  # too quick to time once
            signals = numpy_pass(x)
        return (time.perf_counter() - started) / 20, n, signals
    if name == "streaming":
        signals = streaming(values, stamps)
    elif name == "batch":
        signals = batch(values, stamps)
    elif name == "columnar":
        signals = columnar(x, stamps)
    else:
        n = min(n, 50_000)
        started = time.perf_counter()
        signals = generic(values[:n])
    return time.perf_counter() - started, n, signals


def same_everywhere(n: int) -> bool:
    x = data(n)
    values, stamps = x.tolist(), [TS] * n
    one = make()
    expected = [one.update(TS, v) for v in values]
    return (
        make().update_many(stamps, values) == expected
        and list(make().update_batch(stamps, x)) == expected
        and [PhaseIChart.update(chart, TS, v) for chart in [make()] for v in values] == expected
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--contender", choices=CONTENDERS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.contender is not None:  # a child: one run on stdout
        print(json.dumps(run_contender(args.contender, args.n)))
        return 0
    rates: dict[str, float] = {}
    signals: dict[str, int] = {}
    for name in CONTENDERS:
        runs = []
        for _ in range(args.repeat):
            child = subprocess.run(
                [sys.executable, __file__, "--contender", name, "--n", str(args.n)],
                capture_output=True,
                text=True,
                check=True,
            )
            runs.append(json.loads(child.stdout.strip().splitlines()[-1]))
        rates[name] = statistics.median(count / seconds for seconds, count, _ in runs)
        signals[name] = runs[0][2]
    same = same_everywhere(min(args.n, 50_000))
    print(f"samples {args.n:,}, median of {args.repeat} runs, each contender in its own process")
    print(f"{'contender':<10} {'samples/s':>14} {'us/sample':>10} {'x numpy time':>13}")
    for name in CONTENDERS:
        print(
            f"{name:<10} {rates[name]:>14,.0f} {1e6 / rates[name]:>10.3f} "
            f"{rates['numpy'] / rates[name]:>13.1f}"
        )
    print(
        f"signals: streaming {signals['streaming']}, batch {signals['batch']}, "
        f"columnar {signals['columnar']}; all paths equal on {min(args.n, 50_000)}: {same}"
    )
    print(
        f"columnar vs streaming {rates['columnar'] / rates['streaming']:.1f}x, "
        f"streaming vs generic {rates['streaming'] / rates['generic']:.1f}x"
    )
    for name, goal in GOALS.items():
        met = "met" if rates[name] >= goal else "not met"
        print(f"goal {goal:,} samples/s ({name}): {met} on this run")
    agree = signals["streaming"] == signals["batch"] == signals["columnar"]
    return 0 if same and agree else 1


if __name__ == "__main__":
    raise SystemExit(main())
