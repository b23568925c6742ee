"""Per-sample streaming throughput of I-MR with all eight Nelson tests, beside numpy.

    python bench/bench_spc_throughput.py [--n 300000] [--repeat 5]

All passes see the same seeded N(0, 1) data against known limits (center 0, sigma 1):

* **streaming**: ``IMRChart.update`` once per sample (two PlotPoints, eight tests on the
  individuals chart, test 1 on the moving ranges);
* **batch**: ``IMRChart.update_many`` over the whole array (numpy rule engine, same
  Evaluation objects; the bench checks they equal the streaming output);
* **generic**: the unspecialised engine (``PhaseIChart.update``) the fast paths replace,
  on the first 50,000 samples;
* **numpy**: moving ranges, zones and test-1 flags vectorised (no objects, no run tests).

Each pass is timed ``--repeat`` times and the fastest run is kept (the machine's noise only
ever adds time). Ratios are pass time / numpy time.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from linewatch.detectors.spc import IMRChart, PhaseIChart, RuleSet

TS = datetime(2026, 1, 1, tzinfo=UTC)


def numpy_pass(x: np.ndarray) -> int:
    mr = np.abs(np.diff(x))
    beyond = (x > 3.0) | (x < -3.0)
    zone = np.minimum(np.ceil(np.abs(x)), 4)
    mr_beyond = mr > 1.128 + 3 * 0.853
    return int(beyond.sum() + mr_beyond.sum() + zone.sum() * 0)


def make() -> IMRChart:
    return IMRChart(center=0.0, sigma=1.0, rules=RuleSet.nelson())


def streaming(values: list[float]) -> int:
    update = make().update
    signals = 0
    for value in values:
        signals += len(update(TS, value).signals)
    return signals


def batch(values: list[float]) -> int:
    return sum(len(e.signals) for e in make().update_many([TS] * len(values), values))


def generic(values: list[float]) -> int:
    chart = make()
    update = PhaseIChart.update
    return sum(len(update(chart, TS, value).signals) for value in values)


def best(run: Callable[[], object], repeat: int) -> tuple[float, object]:
    seconds, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        seconds = min(seconds, time.perf_counter() - started)
    return seconds, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    n = args.n
    x = np.random.default_rng(7).standard_normal(n)
    values = x.tolist()

    chart_a, chart_b = make(), make()
    check = min(n, 50_000)
    same = [chart_a.update(TS, v) for v in values[:check]] == chart_b.update_many(
        [TS] * check, values[:check]
    )
    numpy_s, _ = best(lambda: numpy_pass(x), max(args.repeat, 20))
    stream_s, signals = best(lambda: streaming(values), args.repeat)
    batch_s, batch_signals = best(lambda: batch(values), args.repeat)
    generic_n = min(n, 50_000)
    generic_s, _ = best(lambda: generic(values[:generic_n]), max(1, args.repeat // 2))
    generic_s *= n / generic_n

    print(f"samples                  {n}  (best of {args.repeat})")
    for label, seconds in (
        ("streaming update()", stream_s),
        ("batch update_many()", batch_s),
        ("generic engine (before)", generic_s),
        ("numpy vectorised", numpy_s),
    ):
        print(
            f"{label:24} {n / seconds:12,.0f} samples/s  {seconds * 1e6 / n:7.3f} us/sample  "
            f"ratio to numpy {seconds / numpy_s:7.1f}x"
        )
    print(
        f"signals                  stream {signals}, batch {batch_signals}; "
        f"update_many == update on {check}: {same}"
    )
    print(
        f"goal 1,000,000 samples/s/core (streaming): {'met' if n / stream_s >= 1e6 else 'not met'}"
    )
    return 0 if same and signals == batch_signals else 1


if __name__ == "__main__":
    raise SystemExit(main())
