"""Predictive lead: does a predictive alert come before the porosity chart's first alert?

    python bench/bench_predictive_lead.py [--runs 50] [--json FILE]

The demo line (examples/welding-line.yaml, its models included) with one fault: the
electrode tip temperature of ``welder-07`` drifts up (``trend``, reaching +4 sigma over
90 minutes), which drives porosity at ``final`` 300 s later (the simulator's
cause-and-effect ground truth, ``LineSim.drivers()``). The porosity p chart runs in phase
II from the start (frozen p-bar 0.005, the simulator's base rate), so its first alert after
the fault's start is the SPC detection. Each run has its own seed; the fault starts at
``--fault-h`` hours plus ``10 * (seed % 10)`` minutes, the run lasts four hours more. Records go straight through the
:class:`~linewatch.pipeline.engine.Engine` (no sinks).

Per run: the first predictive alert (rule ``forecast`` or ``forecast:defect_p``) at or
after the fault's start, and the first SPC alert on the porosity chart. A run counts as a
lead when the predictive alert comes first (or the chart never alerts). Predictive alerts
before the fault's start are false alarms; the in-control time they are counted over is
the fault-free time after the models' warm-up (the first predictive point), summed over
runs, per station that owns a predictive model.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from linewatch.pipeline.config import Config, parse_config
from linewatch.pipeline.engine import Engine
from linewatch.pipeline.models import Alert, ChartPoint, ModelScore

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "welding-line.yaml"
PREDICTIVE_RULES = ("forecast", "forecast:defect_p")
VERBOSE = False


@dataclass(slots=True)
class LeadRun:
    seed: int
    fault_start: str
    predictive_at: str | None
    spc_at: str | None
    lead_s: float | None  # spc - predictive; None when either is missing
    leads: bool
    false_alarms: int
    false_by_rule: dict[str, int]
    in_control_s: float  # fault-free time with a predictive model judging


def lead_config(seed: int, fault_h: float) -> Config:
    """The demo config, porosity in phase II, one tip-temperature trend at ``fault_h``."""
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    for station in data["lines"][0]["stations"]:
        for characteristic in station.get("characteristics", []):
            if characteristic["name"] == "porosity":
                characteristic["limits"] = {"center": 0.005}
                characteristic.pop("phase1_passes", None)
    # The fault's start moves with the seed, so it meets the porosity lots (200 parts,
    # 100 minutes) at every phase.
    minutes = round(fault_h * 60) + (seed % 10) * 10
    data["simulation"]["faults"] = [f"trend:weld-2/welder-07/tip_temp_c@{minutes}m+90m*4"]
    data["simulation"]["seed"] = seed
    data.pop("source", None)
    data["sinks"] = []
    return parse_config(data)


def run_once(seed: int, fault_h: float = 10.0, after_h: float = 4.0) -> LeadRun:
    config = lead_config(seed, fault_h)
    simulation = config.simulation
    assert simulation is not None
    start = simulation.start
    fault_start = start + timedelta(minutes=round(fault_h * 60) + (seed % 10) * 10)
    engine = Engine(config)
    predictive: datetime | None = None
    spc: datetime | None = None
    false_alarms = 0
    false_by_rule: dict[str, int] = {}
    judging_from: datetime | None = None
    for record in simulation.records((fault_h + after_h) * 60):
        for item in engine.process(record):
            if isinstance(item, ModelScore | ChartPoint) and judging_from is None:
                is_predictive = (
                    isinstance(item, ChartPoint) and item.chart.startswith("forecast:")
                ) or (isinstance(item, ModelScore) and item.predicted_defect_p is not None)
                if is_predictive:
                    judging_from = item.ts
            if not isinstance(item, Alert) or item.status != "firing":
                continue
            if item.rule in PREDICTIVE_RULES:
                if item.ts < fault_start:
                    false_alarms += 1
                    false_by_rule[item.rule] = false_by_rule.get(item.rule, 0) + 1
                    if VERBOSE:
                        print(f"  false: {item.ts} {item.message}", file=sys.stderr)
                elif predictive is None:
                    predictive = item.ts
            elif item.characteristic == "porosity" and item.ts >= fault_start and spc is None:
                spc = item.ts
    in_control = 0.0 if judging_from is None else (fault_start - judging_from).total_seconds()
    lead = None if predictive is None or spc is None else (spc - predictive).total_seconds()
    leads = predictive is not None and (spc is None or predictive < spc)
    return LeadRun(
        seed,
        fault_start.isoformat(),
        None if predictive is None else predictive.isoformat(),
        None if spc is None else spc.isoformat(),
        lead,
        leads,
        false_alarms,
        false_by_rule,
        max(in_control, 0.0),
    )


def summarise(runs: list[LeadRun], stations: int = 2) -> dict[str, Any]:
    leads = [r.lead_s for r in runs if r.leads and r.lead_s is not None]
    in_control_days = sum(r.in_control_s for r in runs) / 86400.0
    false_alarms = sum(r.false_alarms for r in runs)
    per_day = false_alarms / in_control_days if in_control_days else float("nan")
    return {
        "runs": len(runs),
        "lead_fraction": sum(r.leads for r in runs) / len(runs),
        # the runs whose porosity chart alerted at all within the run
        "spc_alerted": sum(r.spc_at is not None for r in runs),
        "lead_fraction_when_spc_alerted": (
            sum(r.leads for r in runs if r.spc_at is not None)
            / max(1, sum(r.spc_at is not None for r in runs))
        ),
        "median_lead_min": statistics.median(leads) / 60.0 if leads else None,
        "false_alarms": false_alarms,
        "false_by_rule": {
            rule: sum(r.false_by_rule.get(rule, 0) for r in runs) for rule in PREDICTIVE_RULES
        },
        "in_control_days": in_control_days,
        "false_per_day": per_day,
        "false_per_station_week": per_day * 7.0 / stations,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument("--fault-h", type=float, default=10.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    began = time.process_time()
    runs = []
    for seed in range(args.first_seed, args.first_seed + args.runs):
        run = run_once(seed, args.fault_h)
        runs.append(run)
        lead = "-" if run.lead_s is None else f"{run.lead_s / 60:.0f} min"
        print(
            f"seed {seed}: predictive {run.predictive_at} spc {run.spc_at} lead {lead} "
            f"false {run.false_alarms}",
            file=sys.stderr,
        )
    summary = summarise(runs)
    summary["cpu_s"] = round(time.process_time() - began, 1)
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "runs": [asdict(r) for r in runs]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
