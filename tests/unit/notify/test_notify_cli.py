"""One-line errors of the notification commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from linewatch.pipeline.cli import main

PLAIN = "lines: [{name: L3, stations: []}]\n"


def test_notify_and_serve_need_a_notifications_section(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "plain.yaml"
    config.write_text(PLAIN)
    records = tmp_path / "none.jsonl"
    records.write_text("")
    out = str(tmp_path / "out")
    replay = ["replay", "--config", str(config), "--input", str(records), "--out", out]
    assert main([*replay, "--no-progress", "--notify"]) == 1
    assert capsys.readouterr().err == (
        "error: --notify needs a 'notifications' section in the config\n"
    )
    monkeypatch.setenv("LW_TOKEN", "t")
    assert main(["serve", "--config", str(config), "--token-env", "LW_TOKEN"]) == 2
    assert capsys.readouterr().err == (
        f"error: {config}: the config has no 'notifications' section\n"
    )
    assert main(["silence", "list", "--config", str(config)]) == 2
    assert capsys.readouterr().err == (
        f"error: {config}: the config has no 'notifications' section\n"
    )


def test_a_missing_receiver_secret_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LW_NO_SUCH_SECRET", raising=False)
    config = tmp_path / "c.yaml"
    config.write_text(
        PLAIN
        + "notifications:\n"
        + "  receivers: [{name: ops, type: webhook, url: 'http://127.0.0.1:9/',"
        + " secret_env: LW_NO_SUCH_SECRET}]\n"
        + "  route: {receiver: ops}\n"
        + f"  state_dir: {tmp_path / 'n'}\n"
        + f"  delivery: {{spool_dir: {tmp_path / 's'}}}\n"
    )
    records = tmp_path / "none.jsonl"
    records.write_text("")
    assert main(["run", "--config", str(config), "--input", str(records)]) == 1
    assert capsys.readouterr().err == (
        "error: notifications.receivers[ops]: environment variable LW_NO_SUCH_SECRET is not set\n"
    )
