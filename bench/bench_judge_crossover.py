"""Where the columnar I-MR judge should switch from the scalar loop to numpy (``SMALL``).

    python bench/bench_judge_crossover.py

``IMRChart.update_batch`` over batches of one stream of 16 to 512 N(0, 1) values (eight
Nelson tests, known limits), once judged value by value (``step``) and once vectorised
(``steps``), µs a batch, the median of 5 timings in this process. ``columnar.SMALL`` is
set near where the two cross; the poll lane's batches per stream sit right around it (a
5,000-record poll over ~40 streams), so the choice shows in ``make bench``.
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from linewatch.detectors.spc import IMRChart, RuleSet, columnar

TS = datetime(2026, 1, 1, tzinfo=UTC)
SIZES = (16, 32, 64, 96, 128, 192, 256, 384, 512)


def batch_us(n: int, small: int) -> float:
    """Median µs of one ``update_batch`` of ``n`` values with ``SMALL = small``."""
    columnar.SMALL = small
    chart = IMRChart(center=0.0, sigma=1.0, rules=RuleSet.nelson())
    x = np.random.default_rng(n).standard_normal(n)
    stamps = [TS] * n
    chart.update_batch(stamps, x)
    repeats = max(20, 20_000 // n)
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(repeats):
            chart.update_batch(stamps, x)
        timings.append((time.perf_counter() - started) / repeats * 1e6)
    return statistics.median(timings)


def main() -> int:
    chosen = columnar.SMALL
    print(f"{'values':>6} {'loop us':>9} {'numpy us':>9}  (SMALL = {chosen})")
    for n in SIZES:
        loop, vectorised = batch_us(n, 10**9), batch_us(n, 0)
        faster = "loop" if loop < vectorised else "numpy"
        print(f"{n:>6} {loop:>9.0f} {vectorised:>9.0f}  {faster}")
    columnar.SMALL = chosen
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
