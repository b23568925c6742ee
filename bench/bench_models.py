"""Detection table and throughput of the model detectors, beside Hotelling T².

    python bench/bench_models.py [--seeds 20] [--quick] [--json FILE] [--only-throughput]

Data: p = 6 equipment parameters from a two-factor model (variables 0-2 load on the
first factor, 3-5 on the second, plus noise; unit marginal variance, correlations
0.64 within a group). Every detector sees the same seeded stream: ``warmup`` = 300
in-control points (Hotelling's phase I, the models' warm-up), 100 more in-control
points, then the fault from point 400 on (magnitudes in marginal sigmas):

* ``shift_0.5`` / ``shift_1`` / ``shift_3``: +0.5, +1, +3 sigma sustained on variable 0;
* ``drift``: +0.01 sigma a point on variable 1;
* ``variance``: variable 2's sigma doubled;
* ``corr_break``: variable 3 loses its factor (independent noise of the same variance).

Delay = points from the fault's start to the first alarm (censored at 600: "> 600").
FAR = alarms per 1000 in-control points, over 5000 points after the warm-up. All
detectors target a per-point false-alarm rate of 0.0027 (Hotelling: alpha 0.0027, F limit).

Throughput (process CPU time, so other load on the machine counts less): the default
model's ``evaluate`` (what the pipeline calls: score, alarm and contributions) on every sample, and river's
``HalfSpaceTrees`` (default parameters) ``learn_one`` + ``score_one`` loop, on the same
20000 six-parameter samples (warm-up included); each contender runs in its own subprocess,
the contenders interleaved, 3 times: medians, and the ratio's min and max over the rounds.
``default_pipeline`` adds what the engine then does with each result
(``top_contributors(3)`` for ``model_score``, ``to_evaluation()`` for the alerts).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from linewatch.detectors.ml.registry import MODEL_TYPES
from linewatch.detectors.ml.scorer import DEFAULT
from linewatch.detectors.spc import HotellingT2Chart

TS = datetime(2026, 1, 1, tzinfo=UTC)
P = 6
NAMES = tuple(f"v{i}" for i in range(P))
WARMUP = 300
FAULT_AT = 400
CENSOR = 600
TARGET_FAR = 0.0027
FAULTS = ("shift_0.5", "shift_1", "shift_3", "drift", "variance", "corr_break")

DETECTORS: dict[str, dict[str, Any]] = {
    "mewma": {"type": "mewma", "lam": 0.1},
    "pca": {"type": "pca"},
    "hst": {"type": "hst", "window_size": 100, "warmup": WARMUP},
    "imr": {"type": "imr"},
    "ewma": {"type": "ewma"},
    "cusum": {"type": "cusum"},
    "default": DEFAULT,
}


def equipment_data(n: int, seed: int, fault: str | None) -> np.ndarray:
    """n x P samples of the two-factor process, with ``fault`` from FAULT_AT on."""
    rng = np.random.default_rng(seed)
    factors = rng.standard_normal((n, 2))
    noise = rng.standard_normal((n, P)) * 0.6
    load = np.zeros((P, 2))
    load[:3, 0] = 0.8
    load[3:, 1] = 0.8
    x = factors @ load.T + noise
    if fault is None:
        return x
    after = np.arange(n) >= FAULT_AT
    if fault.startswith("shift_"):
        x[after, 0] += float(fault.split("_")[1])
    elif fault == "drift":
        x[after, 1] += 0.01 * (np.arange(n)[after] - FAULT_AT + 1)
    elif fault == "variance":
        x[after, 2] *= 2.0
    elif fault == "corr_break":
        x[after, 3] = rng.standard_normal(int(after.sum()))
    return x


def _model(spec: dict[str, Any], seed: int) -> Callable[[dict[str, float]], bool]:
    params = {k: v for k, v in spec.items() if k != "type"}
    params.setdefault("warmup", WARMUP)
    if spec["type"] == "hst":
        params["seed"] = seed
    detector = MODEL_TYPES[spec["type"]](variables=NAMES, target_far=TARGET_FAR, **params)
    return lambda x: detector.evaluate(TS, x).alarm


def _hotelling(seed: int) -> Callable[[dict[str, float]], bool]:
    chart = HotellingT2Chart(names=NAMES, phase1=WARMUP, alpha=TARGET_FAR)
    return lambda x: bool(chart.update(TS, x).signals)


def _alarms(make: Callable[[], Callable[[dict[str, float]], bool]], data: np.ndarray) -> list[bool]:
    judge = make()
    return [judge(dict(zip(NAMES, row.tolist(), strict=True))) for row in data]


def detection_table(seeds: int) -> dict[str, dict[str, Any]]:
    makers: dict[str, Callable[[int], Callable[[], Callable[[dict[str, float]], bool]]]] = {
        "hotelling_t2": lambda s: lambda: _hotelling(s)
    }
    for name, spec in DETECTORS.items():
        makers[name] = lambda s, spec=spec: lambda: _model(spec, s)
    table: dict[str, dict[str, Any]] = {}
    for name, maker in makers.items():
        row: dict[str, Any] = {}
        far_seeds = max(2, seeds // 4)
        false = 0
        for s in range(far_seeds):
            alarms = _alarms(maker(s), equipment_data(WARMUP + 5000, 10_000 + s, None))
            false += sum(alarms[WARMUP:])
        row["far_per_1000"] = 1000.0 * false / (5000 * far_seeds)
        for fault in FAULTS:
            delays = []
            for s in range(seeds):
                alarms = _alarms(maker(s), equipment_data(FAULT_AT + CENSOR, s, fault))
                hits = [i for i in range(FAULT_AT, FAULT_AT + CENSOR) if alarms[i]]
                delays.append(hits[0] - FAULT_AT + 1 if hits else CENSOR + 1)
            row[fault] = statistics.median(delays)
        table[name] = row
        print(f"  {name} done", file=sys.stderr, flush=True)
    return table


_THROUGHPUT = """
import sys, time
from datetime import datetime, timezone
sys.path.insert(0, {root!r})
import numpy as np
sys.argv = ['x']
from bench.bench_models import equipment_data, NAMES
data = [dict(zip(NAMES, row.tolist())) for row in equipment_data({n}, 7, None)]
ts = datetime(2026, 1, 1, tzinfo=timezone.utc)
if {which!r} in ('default', 'default_pipeline'):
    from linewatch.detectors.ml.registry import MODEL_TYPES
    from linewatch.detectors.ml.scorer import DEFAULT
    spec = dict(DEFAULT); kind = spec.pop('type')
    model = MODEL_TYPES[kind](variables=NAMES, warmup=300, **spec)
    start = time.process_time()
    if {which!r} == 'default':
        for x in data:
            model.evaluate(ts, x)
    else:
        for x in data:
            result = model.evaluate(ts, x)
            result.top_contributors(3)
            result.to_evaluation()
else:
    from river import anomaly
    model = anomaly.HalfSpaceTrees(seed=7)
    start = time.process_time()
    for x in data:
        model.score_one(x)
        model.learn_one(x)
print(len(data) / (time.process_time() - start))
"""


CONTENDERS = ("default", "river_hst", "default_pipeline")


def throughput(n: int, repeats: int = 3) -> dict[str, float]:
    """Samples/s of each contender (median), ``ratio`` = default / river_hst and its range."""
    root = str(Path(__file__).resolve().parents[1])
    runs: dict[str, list[float]] = {which: [] for which in CONTENDERS}
    # interleaved rounds, so a change of load on the machine hits every contender alike
    for _ in range(repeats):
        for which in CONTENDERS:
            code = _THROUGHPUT.format(root=root, n=n, which=which)
            out = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            )
            runs[which].append(float(out.stdout.strip().splitlines()[-1]))
    rates: dict[str, float] = {which: statistics.median(r) for which, r in runs.items()}
    rates["ratio"] = rates["default"] / rates["river_hst"]
    rounds = [d / h for d, h in zip(runs["default"], runs["river_hst"], strict=True)]
    rates["ratio_min"], rates["ratio_max"] = min(rounds), max(rounds)
    rates["pipeline_ratio"] = rates["default_pipeline"] / rates["river_hst"]
    return rates


def _fmt(value: float) -> str:
    return f"> {CENSOR}" if value > CENSOR else f"{value:g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="5 seeds, 5000 throughput samples")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--no-throughput", action="store_true")
    parser.add_argument("--only-throughput", action="store_true", help="skip the table")
    args = parser.parse_args()
    seeds = 5 if args.quick else args.seeds
    result: dict[str, Any] = {"seeds": seeds}
    if not args.only_throughput:
        table = detection_table(seeds)
        header = ["detector", "FAR/1000", *FAULTS]
        print(f"median detection delay (points, {seeds} seeds), false alarms per 1000 points")
        print(" | ".join(f"{h:>12}" for h in header))
        for name, row in table.items():
            cells = [name, f"{row['far_per_1000']:.2f}", *(_fmt(row[f]) for f in FAULTS)]
            print(" | ".join(f"{c:>12}" for c in cells))
        result["detection"] = table
    if not args.no_throughput:
        rates = throughput(5000 if args.quick else 20000)
        print(
            f"throughput: default {rates['default']:.0f}/s, river HST "
            f"{rates['river_hst']:.0f}/s, ratio {rates['ratio']:.2f}x (medians of 3; rounds "
            f"{rates['ratio_min']:.2f}-{rates['ratio_max']:.2f}x); with the engine's "
            f"top_contributors + to_evaluation {rates['default_pipeline']:.0f}/s, "
            f"{rates['pipeline_ratio']:.2f}x"
        )
        result["throughput"] = rates
    text = json.dumps(result, indent=2, sort_keys=True)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
