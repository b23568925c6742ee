"""``linewatch score`` in a subprocess: one flushed score per line, deterministic, bad lines."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMMAND = [sys.executable, "-c", "from linewatch.pipeline.score_cmd import main; main()"]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _run(args: list[str], text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args], input=text, capture_output=True, text=True, env=_env(), timeout=60
    )


def _lines(n: int, columns: int = 1) -> str:
    rows = []
    for i in range(n):
        values = ",".join(f"{10.0 + ((i * 7 + c * 3) % 11) / 10:.2f}" for c in range(columns))
        rows.append(f"2026-01-01 00:{i // 60:02d}:{i % 60:02d},{values}")
    return "\n".join(rows) + "\n"


def test_each_score_is_flushed_before_the_next_line_is_written() -> None:
    process = subprocess.Popen(
        [*COMMAND, "--detector", "imr", "--param", "warmup=3"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    assert process.stdin is not None and process.stdout is not None
    scores = []
    for i, value in enumerate((9.0, 10.0, 11.0, 13.0)):
        process.stdin.write(f"2026-01-01T00:00:0{i}Z,{value}\n")
        process.stdin.flush()
        scores.append(process.stdout.readline().strip())  # blocks unless flushed
    process.stdin.close()
    assert process.wait(timeout=30) == 0
    assert scores == ["0", "0", "0", "0.9973"]


def test_deterministic_one_line_per_input_line_default_detector() -> None:
    text = _lines(400)
    first = _run(["--seed", "7"], text)
    second = _run(["--seed", "7"], text)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    scores = [float(s) for s in first.stdout.splitlines()]
    assert len(scores) == 400 and all(0.0 <= s <= 1.0 for s in scores)
    assert scores[:200] == [0.0] * 200  # the default warm-up


def test_multi_column_input_and_hst_seed() -> None:
    text = _lines(500, columns=3)
    result = _run(["--detector", "hst", "--param", "warmup=300", "--seed", "1"], text)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 500
    again = _run(["--detector", "hst", "--param", "warmup=300", "--seed", "1"], text)
    assert again.stdout == result.stdout


def test_bad_lines_get_nan_and_a_numbered_error() -> None:
    text = (
        "2026-01-01 00:00:00,1,2\n"
        "yesterday,1,2\n"
        "2026-01-01 00:00:01,1,x\n"
        "2026-01-01 00:00:02,1\n"
        "2026-01-01 00:00:03,1,inf\n"
        "2025-12-31 00:00:00,1,2\n"
        "2026-01-01 00:00:04,3,4\n"
    )
    result = _run(["--detector", "mewma", "--param", "warmup=2"], text)
    assert result.returncode == 1
    out = result.stdout.splitlines()
    assert len(out) == 7
    assert [math.isnan(float(s)) for s in out] == [False, True, True, True, True, True, False]
    errors = result.stderr.splitlines()
    assert errors == [
        "error: line 2: not a timestamp: 'yesterday'",
        "error: line 3: column 3: not a number: 'x'",
        "error: line 4: expected 2 value(s) like line 1, got 1",
        "error: line 5: column 3: not finite: 'inf'",
        "error: line 6: timestamp 2025-12-31T00:00:00+00:00 is earlier than the line before",
    ]
    assert "Traceback" not in result.stderr


def test_bad_options_exit_2_with_one_line() -> None:
    result = _run(["--detector", "mewma", "--param", "colour=red"], "")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: detector 'mewma' takes no parameter(s) colour"
