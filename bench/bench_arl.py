"""Average run lengths by simulation through the real chart classes, beside published values.

    python bench/bench_arl.py            # 4000 runs per row, ~1 minute on 2 cores
    python bench/bench_arl.py --quick    # 800 runs per row, seconds (wider error)

Zero-state ARL: every run starts a fresh chart with known limits (target 0, sigma 1) and
feeds N(shift, 1) values until the first signal. Published values:

* Shewhart individuals, 3 sigma, test 1 only: ARL0 = 1/(2(1 - Phi(3))) = 370.4.
* Tabular CUSUM k = 0.5, h = 5: ARL0 = 465, ARL(1 sigma) = 10.4 (Montgomery, Table 9.3).
* EWMA lambda = 0.1 with steady-state limits: ARL0 = 500, ARL(1 sigma) = 10.3 (Lucas &
  Saccucci 1990; Montgomery, Table 9.11) hold for **L = 2.814**, not L = 2.7: with L = 2.7
  the ARL0 is about 369 (Markov chain below, and the simulation agree). Both are printed;
  the L = 2.7 rows are compared with the Markov-chain value. Exact time-varying limits
  signal a little earlier; that row is printed for information.

The ``markov`` column is an independent check: the Brook & Evans (1972) Markov-chain
approximation (401 states for EWMA; 400 per one-sided CUSUM, combined as
1/ARL = 1/ARL+ + 1/ARL-), computed by ``linewatch.detectors.spc.arl`` (the same module
``check-config``'s false-alarm budget uses), not with the chart classes.

Exits 1 when a row misses its reference by more than 5% (full mode only).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from linewatch.detectors.base import Detector
from linewatch.detectors.spc import CusumChart, EwmaChart, IMRChart, RuleSet
from linewatch.detectors.spc.arl import cusum_arl, ewma_arl, shewhart_arl

TS = datetime(2026, 1, 1, tzinfo=UTC)
SCHEMES: dict[str, Callable[[], Detector]] = {
    "shewhart": lambda: IMRChart(center=0.0, sigma=1.0, dispersion_rules=RuleSet.none()),
    "cusum": lambda: CusumChart(target=0.0, sigma=1.0, k=0.5, h=5.0),
    "ewma": lambda: EwmaChart(target=0.0, sigma=1.0, lam=0.1, L=2.814, steady_state=True),
    "ewma_27": lambda: EwmaChart(target=0.0, sigma=1.0, lam=0.1, L=2.7, steady_state=True),
    "ewma_exact": lambda: EwmaChart(target=0.0, sigma=1.0, lam=0.1, L=2.7),
}
# label, scheme, shift, published value (None: none published for it)
ROWS: list[tuple[str, str, float, float | None]] = [
    ("Shewhart 3-sigma individuals", "shewhart", 0.0, 1.0 / (2.0 * 0.0013498980316301035)),
    ("CUSUM k=0.5 h=5", "cusum", 0.0, 465.0),
    ("CUSUM k=0.5 h=5", "cusum", 1.0, 10.4),
    ("EWMA lam=0.1 L=2.814 steady", "ewma", 0.0, 500.0),
    ("EWMA lam=0.1 L=2.814 steady", "ewma", 1.0, 10.3),
    ("EWMA lam=0.1 L=2.7 steady", "ewma_27", 0.0, None),
    ("EWMA lam=0.1 L=2.7 steady", "ewma_27", 1.0, None),
    ("EWMA lam=0.1 L=2.7 exact", "ewma_exact", 0.0, None),
    ("EWMA lam=0.1 L=2.7 exact", "ewma_exact", 1.0, None),
]


def markov_arl(scheme: str, shift: float) -> float | None:
    """Brook & Evans Markov-chain ARL (``detectors/spc/arl.py``, not the chart classes)."""
    if scheme in ("ewma", "ewma_27"):
        return ewma_arl(0.1, 2.814 if scheme == "ewma" else 2.7, shift)
    if scheme == "cusum":
        return cusum_arl(0.5, 5.0, shift)
    if scheme == "shewhart":
        return shewhart_arl(3.0, shift)
    return None


def run_lengths(scheme: str, shift: float, runs: int, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    lengths = []
    make = SCHEMES[scheme]
    for _ in range(runs):
        chart = make()
        update = chart.update
        length = 0
        while True:
            block = (rng.standard_normal(512) + shift).tolist()
            for x in block:
                length += 1
                if update(TS, x).signals:
                    break
            else:
                continue
            break
        lengths.append(length)
    return lengths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="800 runs per row instead of 4000")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    runs = 800 if args.quick else 4000
    started = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        futures = [
            pool.submit(run_lengths, scheme, shift, runs, 1000 + i)
            for i, (_, scheme, shift, _) in enumerate(ROWS)
        ]
        results = [f.result() for f in futures]
    print(
        f"{'scheme':30} {'shift':>5} {'published':>9} {'markov':>7} {'simulated':>9} "
        f"{'s.e.':>5} {'diff':>7}  within 5%"
    )
    failed = False
    for (label, scheme, shift, published), lengths in zip(ROWS, results, strict=True):
        mean = float(np.mean(lengths))
        se = float(np.std(lengths, ddof=1)) / math.sqrt(len(lengths))
        markov = markov_arl(scheme, shift)
        reference = published if published is not None else markov
        shown = "-" if published is None else f"{published:.1f}"
        chain = "-" if markov is None else f"{markov:.1f}"
        if reference is None:
            print(f"{label:30} {shift:5.1f} {shown:>9} {chain:>7} {mean:9.1f} {se:5.1f}")
            continue
        diff = mean / reference - 1.0
        ok = abs(diff) <= 0.05
        failed |= not ok
        print(
            f"{label:30} {shift:5.1f} {shown:>9} {chain:>7} {mean:9.1f} {se:5.1f} "
            f"{diff:+7.1%}  {'yes' if ok else 'NO'}"
        )
    print(f"{runs} runs per row, {time.perf_counter() - started:.0f} s")
    return 1 if failed and not args.quick else 0


if __name__ == "__main__":
    raise SystemExit(main())
