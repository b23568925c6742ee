"""Every user-facing failure of the config and the CLI (issue 8), through the real CLI.

Each case runs ``python -m linewatch.pipeline.cli`` in a subprocess, as a user would, and
checks the exit code, the ``error:`` line (or the config error format) and that no
traceback reaches the user.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import linewatch
from linewatch.pipeline import cli

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "welding-line.yaml"

CONFIG = """\
lines:
  - name: L3
    stations:
      - name: weld-2
        characteristics:
          - name: nugget_dia_mm
            chart: imr
"""


def linewatch_cli(
    *args: str | Path, cwd: Path | None = None, columns: int = 80
) -> subprocess.CompletedProcess[str]:
    # COLUMNS: the rich console used to wrap errors at the terminal width
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": str(columns)}
    return subprocess.run(
        [sys.executable, "-m", "linewatch.pipeline.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def config_file(tmp_path: Path, text: str, name: str = "plant.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def assert_config_error(result: subprocess.CompletedProcess[str], problems: list[str]) -> None:
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    count = len(problems)
    assert result.stderr.splitlines() == [
        f"error: invalid configuration ({count} problem{'s' if count != 1 else ''}):",
        *(f"  {problem}" for problem in problems),
    ]


def assert_one_error_line(result: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert result.returncode == code
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [f"error: {text}"]


# -- config (finding 7) ------------------------------------------------------------------


def test_a_duplicate_key_is_an_error_naming_both_lines(tmp_path: Path) -> None:
    text = CONFIG + "lateness:\n  allowed_lateness_s: 60\n  allowed_lateness_s: 600\n"
    result = linewatch_cli("check-config", config_file(tmp_path, text))
    assert_config_error(
        result,
        [
            "lateness.allowed_lateness_s (plant.yaml lines 9 and 10): "
            "duplicate key 'allowed_lateness_s'"
        ],
    )


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        (
            "lateness: {allowed_lateness_s: 1.0e+15}",
            "lateness.allowed_lateness_s (plant.yaml line 8): "
            "Input should be less than or equal to 31622400 (got 1000000000000000.0)",
        ),
        (
            "lateness: {allowed_lateness_s: .inf}",
            "lateness.allowed_lateness_s (plant.yaml line 8): "
            "Input should be a finite number (got inf)",
        ),
    ],
)
def test_an_impossible_lateness_fails_the_check_not_the_start(
    tmp_path: Path, setting: str, problem: str
) -> None:
    result = linewatch_cli("check-config", config_file(tmp_path, CONFIG + setting + "\n"))
    assert_config_error(result, [problem])


def test_a_kpi_window_beyond_a_year_fails_the_check_not_the_stream(tmp_path: Path) -> None:
    text = CONFIG.replace(
        "      - name: weld-2\n", "      - name: weld-2\n        kpi_window_s: 1.0e15\n"
    )
    result = linewatch_cli("check-config", config_file(tmp_path, text))
    assert_config_error(
        result,
        [
            "lines[0].stations[0].kpi_window_s (plant.yaml line 5): "
            "Input should be less than or equal to 31622400 (got '1.0e15')"
        ],
    )


def test_a_latin1_config_names_the_file_line_and_byte(tmp_path: Path) -> None:
    path = tmp_path / "plant.yaml"
    path.write_bytes(CONFIG.replace("weld-2", "soudure-\xe9").encode("latin-1"))
    result = linewatch_cli("check-config", path)
    # "lines:\n" 7 + "  - name: L3\n" 13 + "    stations:\n" 14 + "      - name: soudure-" 22
    assert_config_error(
        result,
        [f"{path} line 4 column 23: not UTF-8: byte 0xe9 at offset 56; save the file as UTF-8"],
    )


def test_a_yaml_syntax_error_names_the_file_not_a_unicode_string(tmp_path: Path) -> None:
    path = config_file(tmp_path, CONFIG + "sinks: [{type: jsonl\n")
    result = linewatch_cli("check-config", path)
    assert_config_error(
        result,
        [
            f"{path} line 9 column 1: not valid YAML: expected ',' or '}}', but got "
            f"'<stream end>' (while parsing a flow mapping, {path} line 8 column 9)"
        ],
    )
    assert "<unicode string>" not in result.stderr


def test_check_config_reports_every_problem_in_one_run(tmp_path: Path) -> None:
    # Before, this took five rounds: the YAML duplicate passed, the cross-field checks
    # ran only once the fields were valid, and the p chart's centre failed at start.
    text = """\
lines:
  - name: L3
    stations:
      - name: weld-2
        kpi_every_s: 0
        characteristics:
          - name: d
            chart: imx
          - name: e
            lsl: 6.0
            usl: 5.0
          - name: f
            chart: p
            limits: {center: 1.5}
          - name: e
      - name: weld-2
checkpoint:
  every_records: 10
  every_records: 20
"""
    result = linewatch_cli("check-config", config_file(tmp_path, text))
    assert_config_error(
        result,
        [
            "checkpoint.every_records (plant.yaml lines 18 and 19): duplicate key 'every_records'",
            "lines[0].stations[0].characteristics[0].chart (plant.yaml line 8): Input should be "
            "'imr', 'xbar-r', 'xbar-s', 'p', 'np', 'c', 'u', 'laney-p', 'laney-u', 'cusum', "
            "'ewma', 'zmr', 'g', 't' or 'ar1' (got 'imx')",
            "lines[0].stations[0].characteristics[1] (plant.yaml line 9): "
            "Value error, lsl (6.0) must be below usl (5.0)",
            "lines[0].stations[0].kpi_every_s (plant.yaml line 5): "
            "Input should be greater than or equal to 1 (got 0)",
            "lines[0].stations[0] (plant.yaml line 4): Value error, duplicate characteristic 'e'",
            "lines[0] (plant.yaml line 2): Value error, duplicate station 'weld-2'",
            "lines[0].stations[0].characteristics[2] (plant.yaml line 12): center proportion is "
            "1.5: limits need 0 < p-bar < 1 (phase I had no nonconforming items, or only "
            "nonconforming ones)",
        ],
    )


def test_config_errors_are_never_wrapped(tmp_path: Path) -> None:
    text = CONFIG.replace("chart: imr", "chart: imrr")
    result = linewatch_cli("check-config", config_file(tmp_path, text), columns=40)
    assert result.returncode == 2
    problem = result.stderr.splitlines()[1]
    assert len(problem) > 120
    assert problem.startswith("  lines[0].stations[0].characteristics[0].chart (plant.yaml")
    assert problem.endswith("(got 'imrr')")


# -- the command line (finding 8) --------------------------------------------------------


def test_version() -> None:
    result = linewatch_cli("--version")
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        f"linewatch {linewatch.__version__}\n",
        "",
    )


def test_a_closed_stdout_pipe_ends_quietly_with_141(tmp_path: Path) -> None:
    csv = tmp_path / "obs.csv"
    # 3000 points of JSON are far more than a pipe buffer, so the writer must meet the close
    csv.write_text("value\n" + "".join(f"{10 + (i % 7) / 10}\n" for i in range(3000)))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "linewatch.pipeline.cli", "analyze", "--chart", "imr"]
    with subprocess.Popen(
        [*command, "--input", str(csv), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    ) as process:  # `| head -1`
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.readline() == b"{\n"
        process.stdout.close()
        stderr = process.stderr.read().decode()
        assert process.wait(timeout=60) == cli.EXIT_BROKEN_PIPE == 141
    assert stderr == ""


def test_replay_start_without_a_windowed_source_is_an_error(tmp_path: Path) -> None:
    config = config_file(tmp_path, CONFIG)  # no source, no --input
    out = tmp_path / "out"
    result = linewatch_cli(
        "replay", "--config", config, "--start", "2026-11-02T06:00:00Z", "--out", out
    )
    assert_one_error_line(
        result,
        2,
        "--start and --stop select a time window of a file (--input or a file source) "
        "or of --from influx://... or kafka://...; the config's source is none",
    )
    assert not out.exists()


def test_a_time_that_is_not_iso_8601_is_a_usage_error(tmp_path: Path) -> None:
    result = linewatch_cli("replay", "--config", EXAMPLE, "--stop", "yesterday")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == (
        "linewatch replay: error: argument --stop: "
        "'yesterday' is not an ISO 8601 time, e.g. 2026-11-02T06:00:00Z"
    )


def test_an_unwritable_output_is_one_error_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = linewatch_cli(
        "simulate", "--config", EXAMPLE, "--minutes", "1", "--out", blocker / "sim.jsonl",
        "--no-progress",
    )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [f"error: {blocker}: File exists"]


def test_an_input_of_unknown_format_is_one_error_line(tmp_path: Path) -> None:
    (tmp_path / "line.txt").write_text("hello\n")
    result = linewatch_cli(
        "replay", "--config", EXAMPLE, "--input", tmp_path / "line.txt",
        "--out", tmp_path / "out", "--no-progress",
    )  # fmt: skip
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ") and "line.txt" in line


def test_a_missing_config_is_one_error(tmp_path: Path) -> None:
    result = linewatch_cli("check-config", tmp_path / "nothere.yaml")
    assert_config_error(
        result, [f"{tmp_path / 'nothere.yaml'}: cannot read: No such file or directory"]
    )


# -- the last resort (in process: a bug cannot be provoked on purpose through the CLI) ---


def test_an_unexpected_exception_is_one_line_and_a_traceback_only_with_v(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(_args: object) -> int:
        raise KeyError("lsl")

    monkeypatch.setattr(cli, "cmd_check_config", broken)
    path = config_file(tmp_path, CONFIG)
    assert cli.main(["check-config", str(path)]) == 1
    assert capsys.readouterr().err == (
        "error: internal error: KeyError: 'lsl' (run with -v for the traceback)\n"
    )
    assert cli.main(["-v", "check-config", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):\n")
    assert err.endswith(
        "KeyError: 'lsl'\nerror: internal error: KeyError: 'lsl' (run with -v for the traceback)\n"
    )


def test_simulate_to_a_file_of_unknown_format_is_one_error_line(tmp_path: Path) -> None:
    result = linewatch_cli(
        "simulate",
        "--config",
        EXAMPLE,
        "--minutes",
        "1",
        "--out",
        tmp_path / "x.txt",
        "--no-progress",
    )
    assert_one_error_line(
        result,
        2,
        f"{tmp_path / 'x.txt'}: unsupported format '.txt'; supported: .jsonl, .ndjson, .json, "
        ".csv (each optionally .gz), .parquet, .pq",
    )
