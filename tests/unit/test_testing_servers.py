"""The ServerProcess base on real child processes (Python one-liners on 127.0.0.1)."""

from __future__ import annotations

import signal
import socket
import sys
import time
from pathlib import Path

import pytest

from linewatch.connectors.testing.alertmanager import AlertmanagerServer
from linewatch.connectors.testing.kafka import KafkaBroker, KafkaBrokerError
from linewatch.connectors.testing.servers import (
    HOST,
    ServerError,
    ServerProcess,
    port_answers,
    source_tree,
)

# Listens on argv[1], prints a line, and (with argv[2] == "stubborn") ignores SIGTERM.
LISTENER = """
import signal, socket, sys, time
if sys.argv[2] == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()
print("listening", flush=True)
while True:
    time.sleep(1)
"""


class Listener(ServerProcess):
    kind = "listener"

    def __init__(self, data_dir: Path | None = None, *, mode: str = "plain", **kw: object) -> None:
        super().__init__(data_dir, **kw)  # type: ignore[arg-type]
        self.mode = mode

    def command(self) -> list[str]:
        return [sys.executable, "-c", LISTENER, str(self.port), self.mode]

    def ready(self) -> bool:
        assert self.port is not None
        return port_answers(self.port)


def test_start_writes_the_layout_and_close_removes_a_temp_dir() -> None:
    server = Listener().start()
    try:
        assert (server.data_dir / "url").read_text() == f"http://{HOST}:{server.port}\n"
        assert (server.data_dir / "server.pid").read_text() == f"{server.pid}\n"
        assert "listening" in server.log_tail()
    finally:
        server.close()
    assert not server.is_running()
    assert not server.data_dir.exists()
    server.close()  # idempotent


def test_restart_keeps_the_port_and_the_log(tmp_path: Path) -> None:
    with Listener(tmp_path / "l") as server:
        port = server.port
        server.restart()
        assert server.port == port
        assert server.log_tail(100).splitlines().count("listening") == 2
    assert (tmp_path / "l" / "server.log").exists()  # a given data dir is kept
    assert not (tmp_path / "l" / "server.pid").exists()


def test_a_given_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind((HOST, 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(
            ServerError, match=rf"^127\.0\.0\.1 port\(s\) \[{port}\] already in use$"
        ):
            Listener(tmp_path, port=port).start()


def test_exit_during_startup_quotes_the_log(tmp_path: Path) -> None:
    class Dies(Listener):
        def command(self) -> list[str]:
            return [sys.executable, "-c", "print('bad config: line 3'); raise SystemExit(3)"]

    with pytest.raises(ServerError) as caught:
        Dies(tmp_path).start()
    text = str(caught.value)
    assert text.startswith("listener: exited with 3 during startup; ")
    assert text.endswith("bad config: line 3")


def test_stop_escalates_to_sigkill_after_the_timeout(tmp_path: Path) -> None:
    server = Listener(tmp_path, mode="stubborn", stop_timeout=0.5).start()
    proc = server._proc
    assert proc is not None
    began = time.monotonic()
    server.stop()
    assert proc.returncode == -signal.SIGKILL
    assert 0.5 <= time.monotonic() - began < 10


def test_not_ready_by_the_deadline_fails_and_leaves_nothing_running(tmp_path: Path) -> None:
    class NeverReady(Listener):
        def ready(self) -> bool:
            return False

    server = NeverReady(tmp_path, startup_timeout=0.5)
    with pytest.raises(ServerError, match=r"^listener: not ready on 127\.0\.0\.1:\d+ after 0\.5s"):
        server.start()
    assert not server.is_running()


def test_missing_alertmanager_names_the_install_command(tmp_path: Path) -> None:
    server = AlertmanagerServer(tmp_path, binary=tmp_path / "none")
    with pytest.raises(ServerError, match=r"run `bash scripts/alertmanager\.sh install`$"):
        server.start()


def test_templates_outside_a_checkout_are_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LINEWATCH_SOURCE_DIR", str(tmp_path))
    with pytest.raises(ServerError) as caught:
        source_tree("scripts/kafka")
    assert str(caught.value) == (
        f"scripts/kafka not found under {tmp_path}: the test servers need a Linewatch "
        "source checkout (pip install -e <checkout>, or set LINEWATCH_SOURCE_DIR to one)"
    )
    with pytest.raises(KafkaBrokerError, match="scripts/kafka not found under"):
        KafkaBroker(data_dir=tmp_path / "k")


def test_the_checkout_holds_the_templates() -> None:
    root = source_tree("scripts/kafka/server.properties.in")
    assert (root / "scripts" / "influxdb" / "influxdb.conf.in").is_file()
    assert (root / "scripts" / "alertmanager.sh").is_file()
