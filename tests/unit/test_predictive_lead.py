"""The predictive lead on a few seeds of the bench (bench/bench_predictive_lead.py runs 50)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_predictive_lead.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_predictive_lead", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_risk_alert_comes_before_the_porosity_chart_and_nothing_fires_in_control() -> None:
    bench = _bench()
    runs = [bench.run_once(seed) for seed in (1004, 1008, 1009)]
    # The fault starts at 10 h + 40, 80, 90 min; the porosity chart's lots end every 100 min.
    assert [r.leads for r in runs] == [True, True, True]
    assert [r.false_alarms for r in runs] == [0, 0, 0]
    assert all(r.lead_s is not None and r.lead_s > 0 for r in runs)
    assert all(r.in_control_s > 4 * 3600 for r in runs)
    summary = bench.summarise(runs)
    assert summary["lead_fraction"] == 1.0 and summary["false_alarms"] == 0
