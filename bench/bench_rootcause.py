"""Does the root-cause ranking find the true driver? Seeded simulator runs, real replay path.

    python bench/bench_rootcause.py [--seeds 20] [--first-seed 0] [--json FILE]

Each seed draws, from ``np.random.default_rng(seed)``:

* the **driver** of porosity at ``final`` among the demo line's four parameters
  (``examples/welding-line.yaml``, its ``simulation`` section), and its **lag**, 1 to 30
  minutes (``dataclasses.replace`` of the porosity ``DefectSim``'s ``driver``/``lag_s``);
* a **fault on the driver**: a shift of +2.5 to +3.5σ, or a trend reaching +3.5 to +5σ,
  starting 90 to 150 minutes in and lasting 60 to 90 minutes;
* a **distractor**: a +2.5σ shift for an hour on another parameter or characteristic,
  starting 20 to 40 minutes after the driver's effect reaches final inspection (a stream
  that moved, but after the effect: the ranking must not blame it).

The line runs until an hour after the fault ends (about 4 hours: 500 parts), and the
records go through ``build_job(mode="replay")``, exactly as ``linewatch replay`` (the
demo config's charts, a report written to a temporary folder). The porosity rise with the
largest CUSUM statistic is the effect; the bench prints the true driver's rank in its
ranking per seed, then how often it ranks first and in the top 3.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from linewatch.connectors.memory import IterableSource
from linewatch.connectors.simulator import FaultSim, Simulation, simulate
from linewatch.pipeline.config import Config, load_config
from linewatch.pipeline.job import build_job

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "welding-line.yaml"
EFFECT = ("final", "porosity")


@dataclass(frozen=True, slots=True)
class Trial:
    seed: int
    driver: str
    lag_s: float
    fault: str
    distractor: str
    found: bool  # a porosity rise was found
    rank: int | None  # the true driver's rank (1 = first)
    top: str | None  # who ranked first
    lead_min: float | None  # the driver's lead time as the ranking measured it
    seconds: float


def demo_config() -> Config:
    config = load_config(CONFIG)
    return config.model_copy(update={"sinks": [], "source": None})


def _with_driver(sim: Simulation, driver: str, lag_s: float) -> Simulation:
    stations = []
    for station in sim.stations:
        defects = tuple(
            dataclasses.replace(d, driver=driver, lag_s=lag_s) if d.code == EFFECT[1] else d
            for d in station.defects
        )
        stations.append(dataclasses.replace(station, defects=defects))
    return dataclasses.replace(sim, stations=tuple(stations), faults=())


def trial(seed: int, config: Config | None = None) -> Trial:
    """One seeded run (see the module docstring) through the real replay path."""
    config = config or demo_config()
    assert config.simulation is not None
    rng = np.random.default_rng(seed)
    parameters = list(config.simulation.parameter_targets())
    driver = parameters[int(rng.integers(len(parameters)))]
    lag_s = float(rng.integers(1, 31) * 60)
    sim = _with_driver(config.simulation, driver, lag_s)
    start_min = float(rng.integers(90, 151))
    duration_min = float(rng.integers(60, 91))
    if rng.random() < 0.5:
        magnitude = round(float(rng.uniform(2.5, 3.5)), 1)
        fault = FaultSim("shift", driver, start_min, duration_min, magnitude)
    else:
        magnitude = round(float(rng.uniform(3.5, 5.0)), 1)
        fault = FaultSim("trend", driver, start_min, duration_min, magnitude)
    others = [t for t in sim.targets() if t != driver]
    other = others[int(rng.integers(len(others)))]
    distractor = FaultSim(
        "shift", other, start_min + lag_s / 60 + float(rng.integers(20, 41)), 60.0, 2.5
    )
    minutes = start_min + duration_min + lag_s / 60 + 60.0
    records = simulate(sim, sim.start, minutes, [fault, distractor], seed=seed)

    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        job = build_job(
            config,
            mode="replay",
            out_dir=out,
            report_path=out / "report.md",
            source=IterableSource(records, name="simulator"),
        )
        job.run()
        job.finish()
    rises = [c for c in job.root_causes if (c.station, c.output) == EFFECT]
    seconds = time.perf_counter() - began
    if not rises:
        return Trial(
            seed, driver, lag_s, fault.label, distractor.label, False, None, None, None, seconds
        )
    effect = max(rises, key=lambda c: c.rise.statistic)
    names = [c.name for c in effect.candidates]
    rank = names.index(driver) + 1 if driver in names else None
    lead = next(c.lead_bins for c in effect.candidates if c.name == driver)
    return Trial(
        seed,
        driver,
        lag_s,
        fault.label,
        distractor.label,
        True,
        rank,
        names[0] if names else None,
        None if lead is None else lead * effect.bin_s / 60,
        seconds,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    config = demo_config()
    trials = []
    print(f"{'seed':>4}  {'driver':<42} {'lag':>6}  {'fault':<50} {'rank':>4}  {'lead':>7}  first")
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        t = trial(seed, config)
        trials.append(t)
        lead = "–" if t.lead_min is None else f"{t.lead_min:.0f} min"
        print(
            f"{t.seed:>4}  {t.driver:<42} {t.lag_s / 60:>4.0f} m  {t.fault:<50} "
            f"{t.rank if t.rank else '–':>4}  {lead:>7}  {t.top or 'no rise found'}",
            flush=True,
        )
    n = len(trials)
    first = sum(t.rank == 1 for t in trials)
    top3 = sum(t.rank is not None and t.rank <= 3 for t in trials)
    found = sum(t.found for t in trials)
    print(
        f"\n{n} runs: rise found {found}/{n}; true driver first {first}/{n} ({100 * first / n:.0f}%), "
        f"top 3 {top3}/{n} ({100 * top3 / n:.0f}%); "
        f"{sum(t.seconds for t in trials):.1f} s of replay"
    )
    if args.json is not None:
        args.json.write_text(json.dumps([dataclasses.asdict(t) for t in trials], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
