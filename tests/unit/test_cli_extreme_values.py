"""Issue 8, finding 1 and the 10^29 lot, through the real command line: no traceback, ever.

Each test runs ``python -m linewatch.pipeline.cli`` as a user would and checks the exit
status, the one-line ``error:`` (or the outputs written), and that no traceback appears.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "welding-line.jsonl.gz"
EXAMPLE_CONFIG = ROOT / "examples" / "welding-line.yaml"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "linewatch.pipeline.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _example_with(tmp_path: Path, pick: str, value: str) -> Path:
    """The welding example with the first record containing ``pick`` given ``value``."""
    lines = gzip.decompress(EXAMPLE.read_bytes()).decode().splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if pick in line)
    lines[index] = re.sub(r'"value":[0-9.e+-]+', f'"value":{value}', lines[index], count=1)
    path = tmp_path / "edited.jsonl"
    path.write_text("".join(lines))
    return path


def _replay(
    tmp_path: Path, data: Path, config: Path
) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path / "out"
    done = _cli(
        "replay",
        "--config",
        str(config),
        "--input",
        str(data),
        "--out",
        str(out),
        "--no-progress",
        cwd=tmp_path,
    )
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    return done, out


def _dead_letters(out: Path) -> list[dict[str, str]]:
    path = out / "dead-letters.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_replay_with_1e200_refuses_the_value_and_finishes(tmp_path: Path) -> None:
    # issue 8: OverflowError in capability (Cpm) / overall_sigma, exit 1, nothing written
    data = _example_with(tmp_path, '"nugget_dia_mm"', "1e200")
    done, out = _replay(tmp_path, data, EXAMPLE_CONFIG)
    assert done.returncode == 0, done.stderr
    assert (out / "report.md").exists() and (out / "alerts.jsonl").exists()
    reasons = [d["reason"] for d in _dead_letters(out)]
    assert any(
        r.endswith(
            "edited.jsonl:4: nugget_dia_mm: implausible value: value 1e+200 is beyond ±1e+100"
        )
        for r in reasons
    ), reasons
    assert "69249 records read" in done.stdout + done.stderr


def test_replay_with_a_huge_t2_member_keeps_the_t2_chart_working(tmp_path: Path) -> None:
    # issue 8: one 1e50 tip temperature made phase I of the T² group inestimable for good;
    # it re-estimated an ever growing buffer on every record (20x slower, no T² points)
    data = _example_with(tmp_path, '"tip_temp_c"', "1e50")
    done, out = _replay(tmp_path, data, EXAMPLE_CONFIG)
    assert done.returncode == 0, done.stderr
    report = (out / "report.md").read_text()
    row = next(line for line in report.splitlines() if "| welder-07 | t2 |" in line)
    observations, points = (int(cell) for cell in row.split("|")[4:6])
    assert observations == points and points > 8000, row


LOTS_CONFIG = """\
lines:
  - name: L1
    stations:
      - name: final
        characteristics:
          - {name: porosity, chart: p, phase1: 20}
source: {type: file, path: lots.jsonl}
sinks:
  - {type: jsonl, path: points.jsonl, outputs: [points]}
dead_letters: {path: dead-letters.jsonl}
"""


def _lot(i: int, inspected: int, nonconforming: int) -> str:
    record = {
        "kind": "attribute",
        "ts": f"2026-11-02T{6 + i // 60:02d}:{i % 60:02d}:00Z",
        "line": "L1",
        "station": "final",
        "characteristic": "porosity",
        "inspected": inspected,
        "nonconforming": nonconforming,
    }
    return json.dumps(record) + "\n"


def test_a_lot_of_10_to_the_29_is_refused_and_later_lots_are_charted(tmp_path: Path) -> None:
    # issue 8: one lot with inspected = 10^29 drove p-bar to ~0 and every later lot signalled
    config = tmp_path / "lots.yaml"
    config.write_text(LOTS_CONFIG)
    counts = [3, 5, 2, 4, 6, 3, 4, 5, 2, 3] * 6
    lines = [_lot(i, 200, c) for i, c in enumerate(counts)]
    lines.insert(30, _lot(30, 10**29, 1))  # phase II: refused
    data = tmp_path / "lots.jsonl"
    data.write_text("".join(lines))
    done, out = _replay(tmp_path, data, config)
    assert done.returncode == 0, done.stderr
    reasons = [d["reason"] for d in _dead_letters(out)]
    assert len(reasons) == 1 and "lots.jsonl:31: porosity: implausible size: 1e+29" in reasons[0]
    points = [json.loads(line) for line in (out / "points.jsonl").read_text().splitlines()]
    assert len(points) == len(counts)
    pbar = sum(counts[:20]) / (20 * 200)
    assert {p["cl"] for p in points} == {pbar}
    assert not any(p["violations"] for p in points)


def _csv(tmp_path: Path, values: list[str]) -> Path:
    path = tmp_path / "data.csv"
    path.write_text("\n".join(values) + "\n")
    return path


ORDINARY = ["10.1", "9.8", "10.3", "9.9", "10.0", "10.4", "9.7", "10.2", "9.9", "10.1"]


def test_analyze_with_1e308_is_a_one_line_error(tmp_path: Path) -> None:
    data = _csv(tmp_path, [*ORDINARY[:5], "1e308", *ORDINARY[5:]])
    for chart in ("imr", "cusum", "ewma", "xbar-r", "capability"):
        extra = ["--lsl", "9", "--usl", "11"] if chart == "capability" else []
        done = _cli("analyze", "--chart", chart, "--input", str(data), *extra, cwd=tmp_path)
        assert done.returncode == 2, (chart, done.stderr)
        assert "Traceback" not in done.stderr
        assert done.stderr.count("\n") == 1, done.stderr
        if chart != "xbar-r":  # xbar-r: one value a row is no subgroup, refused first
            assert done.stderr == (
                f"error: {data}:6: implausible value: "
                f"{'value' if chart in ('imr', 'capability') else 'value[0]'}"
                " 1e+308 is beyond ±1e+100\n"
            ), done.stderr


def test_analyze_with_subnormal_and_tiny_values(tmp_path: Path) -> None:
    mixed = _csv(tmp_path, [*ORDINARY[:5], "5e-324", *ORDINARY[5:]])
    done = _cli("analyze", "--chart", "imr", "--input", str(mixed), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["charts"]["individuals"]["value"][5] == 5e-324
    assert result["charts"]["individuals"]["violations"] == {"nelson1": [5]}
    tiny = _csv(tmp_path, [f"{v}e-320" for v in (1, 2, 3, 1, 2, 3, 4, 5, 3, 2)])
    done = _cli("analyze", "--chart", "imr", "--input", str(tiny), cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"error: {tiny}:10: phase I cannot set limits: phase I gives")
    assert "sigma must be >= 1e-100" in done.stderr and done.stderr.count("\n") == 1
