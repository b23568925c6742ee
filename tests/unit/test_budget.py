"""The false-alarm budget of check-config, against a seeded simulation of the same config."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from linewatch.pipeline.budget import StreamRates, false_alarm_budget
from linewatch.pipeline.cli import main
from linewatch.pipeline.config import load_config
from linewatch.pipeline.job import build_job

ROOT = Path(__file__).resolve().parents[2]

SIM = """\
lines:
  - name: L1
    stations:
      - name: s1
        characteristics:
          - {name: a, chart: imr, k_sigma: 2.5, rules: {tests: [1], k: {1: 2.5}},
             limits: {center: 10.0, sigma: 0.5}}
          - {name: b, chart: xbar-r, subgroup_size: 4, limits: {center: 2.0, sigma: 0.1}}
        parameters:
          - {equipment: e, name: p, chart: ewma, ewma: {lambda: 0.2, L: 2.5},
             limits: {center: 5.0, sigma: 1.0}}
source: {type: simulator, minutes: 1000}
sinks: [{type: jsonl, path: alerts.jsonl, outputs: [alerts]}]
alerting: {resolve_after_points: 10, false_alarm_budget_per_day: 100}
simulation:
  line: L1
  cycle_s: 1
  seed: 7
  stations:
    - name: s1
      characteristics:
        - {name: a, mean: 10.0, sigma: 0.5}
        - {name: b, mean: 2.0, sigma: 0.1, subgroup_size: 4}
      parameters:
        - {equipment: e, name: p, mean: 5.0, sigma: 1.0, phi: 0.0}
"""


def _config(tmp_path: Path, text: str = SIM) -> Path:
    path = tmp_path / "line.yaml"
    path.write_text(text)
    return path


def test_expected_rate_matches_a_seeded_simulation_of_the_same_config(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path))
    (line,) = false_alarm_budget(config, StreamRates.from_config(config))
    expected = {(r.stream, r.chart): r.per_day for r in line.rows}
    assert expected[("a", "individuals")] == pytest.approx(86_400 / (80.52 + 10), rel=1e-3)
    job = build_job(config, mode="replay", out_dir=tmp_path / "out")
    job.run()
    job.finish()
    fired = Counter()
    for text in (tmp_path / "out" / "alerts.jsonl").read_text().splitlines():
        alert = json.loads(text)
        if alert["status"] == "firing":
            fired[(alert["characteristic"], alert["chart"])] += 1
    days = 1000 / 1440
    measured_total = sum(fired.values()) / days
    assert measured_total == pytest.approx(line.total, rel=0.10)
    # the charts with hundreds of alarms each, one by one (about 450 alarms: the
    # seeded count's own sigma is about 5%, hence 15% for the moving range, whose ARL0
    # is itself simulated)
    for key, rel in [
        (("a", "individuals"), 0.10),
        (("e/p", "ewma"), 0.10),
        (("a", "moving_range"), 0.15),
    ]:
        assert fired[key] > 300
        assert fired[key] / days == pytest.approx(expected[key], rel=rel), key


def test_check_config_prints_the_table_and_warns_over_budget(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config(
        tmp_path, SIM.replace("false_alarm_budget_per_day: 100", "false_alarm_budget_per_day: 2")
    )
    assert main(["check-config", str(path)]) == 0
    captured = capsys.readouterr()
    assert "s1/a" in captured.out and "individuals" in captured.out
    assert "budget 2" in captured.out
    assert "warning: line L1 expects" in captured.err
    assert "over its budget of 2" in captured.err


def test_rate_option_sets_points_a_day(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _config(tmp_path)
    assert main(["check-config", str(path), "--rate", "60"]) == 0
    out = capsys.readouterr().out
    # 60 an hour = 1440 a day; subgroups of 4: 360 points; X-bar 360 / (370.4 + 10) = 0.946
    row = next(line for line in out.splitlines() if "s1/b" in line and "xbar" in line)
    assert "360" in row and "0.946" in row
    assert main(["check-config", str(path), "--rate", "-1"]) == 2
    assert "--rate must be a positive" in capsys.readouterr().err


def test_the_demo_line_is_within_its_budget(capsys: pytest.CaptureFixture[str]) -> None:
    config = load_config(ROOT / "examples" / "welding-line.yaml")
    (line,) = false_alarm_budget(config, StreamRates.from_config(config))
    assert line.budget == 2
    assert line.total < 1.0 and not line.over
    assert main(["check-config", str(ROOT / "examples" / "welding-line.yaml")]) == 0
    assert "warning" not in capsys.readouterr().err


def test_history_gives_rates_and_warns_of_autocorrelation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = SIM.replace("phi: 0.0", "phi: 0.9").replace("minutes: 1000", "minutes: 60")
    path = _config(tmp_path, text)
    history = tmp_path / "history.jsonl"
    assert main(["simulate", "--config", str(path), "--minutes", "60", "--out", str(history)]) == 0
    capsys.readouterr()
    assert main(["check-config", str(path), "--history", str(history)]) == 0
    captured = capsys.readouterr()
    assert "history (10800 records" in captured.out
    # 3600 parts in an hour: 86,400 values a day (the span is 3599 s: 86,424)
    row = next(
        line for line in captured.out.splitlines() if "s1/a" in line and "individuals" in line
    )
    assert "86,4" in row
    assert "warning: L1/s1/e/p: lag-1 autocorrelation 0.8" in captured.err
    assert "chart: ar1" in captured.err
    assert "L1/s1/a:" not in captured.err
