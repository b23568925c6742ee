"""Resume after kill -9 inside a checkpoint, and after SIGTERM while a resume starts up."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from linewatch.pipeline.checkpoint import LocalStateStore
from tests.unit.demo_slice import ROOT, cli, outputs, run_in_process, write_slice

# Builds the job as `run` does, and kills itself with SIGKILL right after the sinks of
# checkpoint number argv[4] were flushed and before the state is saved.
KILLER = """\
import os, signal, sys
from pathlib import Path
from linewatch.pipeline.config import load_config
from linewatch.pipeline.job import build_job

job = build_job(load_config(sys.argv[1]), mode="run", input_path=Path(sys.argv[2]),
                state_dir=Path("state"))
flushes = [0]
def crash():
    flushes[0] += 1
    if flushes[0] == int(sys.argv[3]):
        os.kill(os.getpid(), signal.SIGKILL)
job.runner.after_flush = crash
job.run()
job.finish()
"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, bytes]]:
    """The slice, its config, and the outputs of one uninterrupted run."""
    folder = tmp_path_factory.mktemp("slice")
    input_path, config_path = write_slice(folder)
    straight = folder / "straight"
    straight.mkdir()
    assert run_in_process(straight, input_path, config_path) == 20_000
    return input_path, config_path, outputs(straight)


@pytest.mark.parametrize("crash_at", [1, 4])
def test_kill_9_between_flush_and_save_duplicates_nothing(
    tmp_path: Path, demo: tuple[Path, Path, dict[str, bytes]], crash_at: int
) -> None:
    input_path, config_path, expected = demo
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    killed = subprocess.run(
        [sys.executable, str(script), str(config_path), str(input_path), str(crash_at)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    checkpoint = LocalStateStore(tmp_path / "state").load()
    assert checkpoint is not None
    assert checkpoint.source["records"] == 2000 * (crash_at - 1)
    # The sinks hold more than the checkpoint says: the lines of the crashed checkpoint.
    points = tmp_path / "points.jsonl"
    assert points.stat().st_size > checkpoint.sinks[str(Path("points.jsonl"))]

    resumed = cli(
        tmp_path, "run", "--config", str(config_path), "--input", str(input_path),
        "--state-dir", "state",
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert outputs(tmp_path) == expected  # byte for byte: nothing twice, nothing lost


def test_sigterm_while_a_resume_starts_stops_cleanly(
    tmp_path: Path, demo: tuple[Path, Path, dict[str, bytes]]
) -> None:
    input_path, config_path, expected = demo
    assert run_in_process(tmp_path, input_path, config_path, stop_after=6000) == 6000
    command = [
        sys.executable, "-m", "linewatch.pipeline.cli", "run", "--config", str(config_path),
        "--input", str(input_path), "--state-dir", "state",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    store = LocalStateStore(tmp_path / "state")
    # During the imports, while the checkpoint loads and the input is skipped, just after.
    for delay in (0.15, 0.7, 1.3):
        before = store.load()
        assert before is not None
        process = subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        time.sleep(delay)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 130, (delay, stderr)
        assert "Traceback" not in stderr
        after = store.load()  # a whole checkpoint, at or past the one before
        assert after is not None and after.source["records"] >= before.source["records"]
    finished = cli(
        tmp_path, "run", "--config", str(config_path), "--input", str(input_path),
        "--state-dir", "state",
    )  # fmt: skip
    assert finished.returncode == 0, finished.stderr
    assert outputs(tmp_path) == expected


def test_a_damaged_checkpoint_is_one_error_line_and_reset_state_starts_over(
    tmp_path: Path, demo: tuple[Path, Path, dict[str, bytes]]
) -> None:
    input_path, config_path, expected = demo
    assert run_in_process(tmp_path, input_path, config_path, stop_after=9000) == 9000
    state = tmp_path / "state" / "checkpoint.json"
    state.write_bytes(state.read_bytes().replace(b'"records":9000', b'"records":10'))
    run = ["run", "--config", str(config_path), "--input", str(input_path), "--state-dir", "state"]
    refused = cli(tmp_path, *run)
    assert refused.returncode == 1
    # (Rich wraps stderr at the terminal width; the message itself is one line.)
    assert unwrapped(refused.stderr) == (
        f"error: {Path('state/checkpoint.json')}: checksum mismatch (the file was edited or "
        "damaged); rerun with --reset-state to start over"
    )
    other = tmp_path / "other.jsonl"
    shutil.copy(input_path, other)
    refused = cli(tmp_path, *run[:4], str(other), *run[5:], "--reset-state")
    assert refused.returncode == 0, refused.stderr  # reset: any input starts afresh
    assert outputs(tmp_path) == expected
    wrong = cli(tmp_path, *run)
    assert wrong.returncode == 1
    assert unwrapped(wrong.stderr) == (
        f"error: {Path('state/checkpoint.json')}: saved for input {other.resolve()}, not "
        f"{input_path.resolve()}; rerun with --reset-state to start over (or give the original "
        "input)"
    )


def unwrapped(stderr: str) -> str:
    assert "Traceback" not in stderr
    return " ".join(stderr.split())
