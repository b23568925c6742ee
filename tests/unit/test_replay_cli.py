"""``linewatch replay``: --scores, --speed pacing and the --start/--stop rules, via the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from linewatch.pipeline.cli import main
from linewatch.pipeline.models import Measurement, RawRecord
from linewatch.pipeline.replay_source import ReplaySource, event_time

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 23, 8, tzinfo=UTC)

# Given limits: CL 10, sigma 1, so every statistic below is hand-computed.
CONFIG = """\
version: 1
lines:
  - name: L1
    stations:
      - name: s1
        characteristics:
          - {name: gap_mm, chart: imr, limits: {center: 10.0, sigma: 1.0}}
dead_letters:
  path: dead.jsonl
"""
HEADER = (
    "kind,ts,line,station,characteristic,chart,value,cl,ucl,lcl,zone,violations,"
    "limits_version,equipment,model,score,threshold,predicted_defect_p"
)


def _files(tmp_path: Path, values: list[float], step_s: float = 1.0) -> tuple[Path, Path]:
    config = tmp_path / "plant.yaml"
    config.write_text(CONFIG)
    data = tmp_path / "line.jsonl"
    lines = [
        json.dumps(
            {
                "kind": "measurement",
                "ts": (T0 + timedelta(seconds=i * step_s)).isoformat(),
                "line": "L1",
                "station": "s1",
                "characteristic": "gap_mm",
                "value": value,
            }
        )
        for i, value in enumerate(values)
    ]
    data.write_text("\n".join(lines) + "\n")
    return config, data


def _replay(config: Path, data: Path, out: Path) -> list[str]:
    return ["replay", "--config", str(config), "--input", str(data), "--out", str(out)]


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "linewatch.pipeline.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=120,
        check=False,
    )


def _row(second: int, chart: str, numbers: str, zone: str, violations: str = "") -> str:
    ts = (T0 + timedelta(seconds=second)).isoformat()
    return f"chart_point,{ts},L1,s1,gap_mm,{chart},{numbers},{zone},{violations},1,,,,,"


# I chart: CL 10, UCL 13, LCL 7. MR chart: CL d2 = 1.128, UCL d2 + 3 d3 = 1.128 + 3 * 0.853
# (Montgomery's table), LCL 0; zones by the MR's sigma d3 = 0.853: 2.5 is 1.372 from CL (B).
MR_LIMITS = f"1.128,{1.128 + 3 * 0.853!r},0.0"
EXPECTED = [
    HEADER,
    _row(0, "individuals", "10.0,10.0,13.0,7.0", "C"),
    _row(1, "individuals", "11.0,10.0,13.0,7.0", "C"),
    _row(1, "moving_range", f"1.0,{MR_LIMITS}", "C"),
    _row(2, "individuals", "13.5,10.0,13.0,7.0", "beyond", "nelson1"),
    _row(2, "moving_range", f"2.5,{MR_LIMITS}", "B"),
    _row(3, "individuals", "9.0,10.0,13.0,7.0", "C"),
    _row(3, "moving_range", f"4.5,{MR_LIMITS}", "beyond", "nelson1"),
]


def test_scores_csv_has_every_chart_point_exactly(tmp_path: Path) -> None:
    config, data = _files(tmp_path, [10.0, 11.0, 13.5, 9.0])
    scores = tmp_path / "scores.csv"
    code = main([*_replay(config, data, tmp_path / "o"), "--scores", str(scores), "--no-progress"])
    assert code == 0
    assert scores.read_text().splitlines() == EXPECTED
    assert "1.128,3.6870000000000003,0.0" in EXPECTED[3]


def test_a_file_window_skips_and_counts_the_records_outside(tmp_path: Path) -> None:
    config, data = _files(tmp_path, [10.0, 11.0, 13.5, 9.0])
    scores = tmp_path / "scores.csv"
    result = _cli(
        "replay", "--config", config, "--input", data, "--out", tmp_path / "o", "--no-progress",
        "--scores", scores, "--start", "2026-11-23T08:00:01Z", "--stop", "2026-11-23T08:00:03Z",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith("2 records read, 2 processed, 0 dead letters, 1 alerts fired")
    assert lines[1] == "2 records outside --start/--stop skipped"
    # the window starts at the 11.0: no moving range before it, the 13.5's is |13.5 - 11|
    assert scores.read_text().splitlines() == [
        HEADER,
        _row(1, "individuals", "11.0,10.0,13.0,7.0", "C"),
        _row(2, "individuals", "13.5,10.0,13.0,7.0", "beyond", "nelson1"),
        _row(2, "moving_range", f"2.5,{MR_LIMITS}", "B"),
    ]
    assert (tmp_path / "o" / "dead.jsonl").read_text() == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--start", "2026-11-23T08:00:03Z", "--stop", "2026-11-23T08:00:01Z"],
            "--stop must be after --start",
        ),
        (
            ["--from", "kafka://127.0.0.1:9092/line", "--start", "2026-11-23T08:00:00Z"],
            "give --input or --from, not both",
        ),
    ],
)
def test_replay_window_rules(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    config, data = _files(tmp_path, [10.0])
    code = main([*_replay(config, data, tmp_path / "o"), *args])
    assert (code, capsys.readouterr().err.splitlines()) == (2, [f"error: {message}"])
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--from", "kafka://127.0.0.1:9092/line", "--stop", "2026-11-23T08:00:00Z"],
            "--from influx://... or kafka://... needs --start and --stop",
        ),
        (
            ["--from", "influx://127.0.0.1:8086/db", "--start", "2026-11-23T08:00:00Z"],
            "--from influx://... or kafka://... needs --start and --stop",
        ),
    ],
)
def test_replay_from_rules(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    config, _ = _files(tmp_path, [10.0])
    code = main(["replay", "--config", str(config), "--out", str(tmp_path / "o"), *args])
    assert (code, capsys.readouterr().err.splitlines()) == (2, [f"error: {message}"])


@pytest.mark.parametrize("speed", ["0", "-3", "fast", "nan", "inf"])
def test_a_speed_that_is_not_positive_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], speed: str
) -> None:
    config, data = _files(tmp_path, [10.0])
    with pytest.raises(SystemExit) as stopped:
        main(["replay", "--config", str(config), "--input", str(data), "--speed", speed])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"linewatch replay: error: argument --speed: {speed!r} is not a positive number or 'max'"
    )


def test_speed_paces_event_time_to_wall_time(tmp_path: Path) -> None:
    # 2 minutes of data (121 points a second apart) at 600x: 0.2 s of pacing
    config, data = _files(tmp_path, [10.0 + (i % 5) * 0.1 for i in range(121)])

    def replay(speed: str) -> tuple[float, str]:
        scores = tmp_path / f"scores-{speed}.csv"
        started = time.monotonic()
        options = ["--no-progress", "--speed", speed, "--scores", str(scores)]
        code = main([*_replay(config, data, tmp_path / speed), *options])
        assert code == 0
        return time.monotonic() - started, scores.read_text()

    flat_out, unpaced = replay("max")
    paced_time, paced = replay("600")
    assert paced == unpaced  # the same outputs at any speed
    # At least the 0.2 s of pacing; the upper bound is loose (a loaded CI machine varies the
    # runs' own cost): it catches a pace 10x too slow, the exact sleeps are tested below.
    assert 0.2 <= paced_time <= 2 * flat_out + 1.0


def test_pacing_sleeps_until_each_record_is_due() -> None:
    now = [100.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(round(seconds, 6))
        now[0] += seconds

    records = [
        Measurement(
            ts=T0 + timedelta(seconds=s), line="L", station="s", characteristic="c", value=1
        )
        for s in (0, 10, 5, 30)  # 5 is out of order: due at once
    ]
    from linewatch.connectors.memory import IterableSource

    source = ReplaySource(
        IterableSource(records), speed=10.0, max_sleep_s=0.5, clock=lambda: now[0], sleep=sleep
    )
    seen: list[tuple[float, list[int]]] = []
    while not source.exhausted:
        batch = source.poll(0.0)
        seen.append((now[0], [r.payload.ts.second for r in batch]))  # type: ignore[union-attr]
    assert seen == [
        (100.0, [0]),  # the first record sets the origin
        (100.5, []),
        (101.0, [10, 5]),
        (101.5, []),
        (102.0, []),
        (102.5, []),
        (103.0, [30]),
    ]
    assert sleeps == [0.5] * 6


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b'{"kind": "measurement", "ts": "2026-11-23T08:00:00Z", "value": 1}', T0),
        ({"ts": "2026-11-23T08:00:00Z", "value": "1"}, T0),  # a CSV row
        ({"ts": T0}, T0),  # a Parquet row
        (b'{"ts": "2026-11-23T08:00:00"}', None),  # no zone: decoding dead-letters it
        (b"not json", None),
        ({"value": 1.0}, None),
    ],
)
def test_event_time_of_each_payload(payload: object, expected: datetime | None) -> None:
    assert event_time(RawRecord(payload=payload, origin="x")) == expected  # type: ignore[arg-type]


def test_model_scores_fill_the_model_score_columns(tmp_path: Path) -> None:
    from linewatch.connectors.csv_scores import CsvScoresSink
    from linewatch.pipeline.models import ModelScore

    sink = CsvScoresSink(tmp_path / "scores.csv")
    sink.add(
        ModelScore(ts=T0, line="L1", station="s1", equipment="w7", model="hst", score=0.25,
                   threshold=0.8, predicted_defect_p=0.125)
    )  # fmt: skip
    sink.close()
    assert (tmp_path / "scores.csv").read_text().splitlines() == [
        HEADER,
        "model_score,2026-11-23T08:00:00+00:00,L1,s1,,,,,,,,,,w7,hst,0.25,0.8,0.125",
    ]
