"""One base for the real servers that tests start on 127.0.0.1: :class:`ServerProcess`.

Standard library only; importing this starts nothing. A subclass says how to launch
(:meth:`ServerProcess.command`) and when the server is ready
(:meth:`ServerProcess.ready`); the base picks free loopback ports (kept across
:meth:`~ServerProcess.restart`, re-picked if another process takes one first), writes
the log, pid and address files into the data dir, waits for readiness with a deadline,
stops with SIGTERM and then SIGKILL, and quotes the log's tail when anything fails.

>>> class Echo(ServerProcess):
...     kind = "echo"
...     def command(self):
...         return [sys.executable, "-m", "http.server", "--bind", HOST, str(self.port)]
...     def ready(self):
...         return port_answers(self.port)
>>> with Echo() as server:
...     server.url.startswith("http://127.0.0.1:"), server.is_running()
(True, True)
>>> server.is_running(), server.data_dir.exists()
(False, False)
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, ClassVar, Self

__all__ = [
    "HOST",
    "HttpServerProcess",
    "ServerError",
    "ServerProcess",
    "free_port",
    "port_answers",
    "port_is_free",
    "source_tree",
    "user_cache_dir",
]

HOST = "127.0.0.1"


class ServerError(RuntimeError):
    """A server is not installed, or could not start or stop."""


def free_port(host: str = HOST) -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int, host: str = HOST) -> bool:
    """Whether a listener could bind ``host:port`` (with SO_REUSEADDR, as servers do)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def port_answers(port: int, host: str = HOST, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def user_cache_dir(name: str) -> Path:
    """``${XDG_CACHE_HOME:-~/.cache}/linewatch/<name>``: kept across fresh clones."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "linewatch" / name


def source_tree(needed: str) -> Path:
    """The Linewatch checkout this package runs from, which must hold ``needed``.

    The server templates (``scripts/kafka/``, ``scripts/influxdb/``) and scripts ship
    with the source tree, not in a wheel: they are found from an editable install or a
    checkout on ``PYTHONPATH``, or under ``$LINEWATCH_SOURCE_DIR``.
    """
    env = os.environ.get("LINEWATCH_SOURCE_DIR")
    # connectors/testing/servers.py -> the checkout (symlinks under linewatch/ resolved)
    root = Path(env) if env else Path(__file__).resolve().parents[2]
    if not (root / needed).exists():
        raise ServerError(
            f"{needed} not found under {root}: the test servers need a Linewatch source "
            "checkout (pip install -e <checkout>, or set LINEWATCH_SOURCE_DIR to one)"
        )
    return root


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM me when my parent thread dies (Linux)."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)


class ServerProcess:
    """One server subprocess on 127.0.0.1 with a data dir and TCP ports.

    ``data_dir``: config, log and data; when omitted a temporary dir is made and
    removed by :meth:`close` / ``with``. ``port``: the main port (default: a free
    one). Subclasses name further ports in ``other_ports`` (attributes set before
    ``super().__init__`` returns; ``None`` means "pick a free one"). Ports picked
    here are kept across :meth:`restart`. ``die_with_parent``: the server gets
    SIGTERM when the thread that started it exits, so a crashed run leaks nothing.
    """

    kind: ClassVar[str] = "server"
    #: how a user installs the server, quoted when it is missing
    install_hint: ClassVar[str] = ""
    #: further port attributes besides ``port`` (e.g. ``("rpc_port",)``)
    other_ports: ClassVar[tuple[str, ...]] = ()
    scheme: ClassVar[str] = "http"
    log_file: ClassVar[str] = "server.log"
    pid_file: ClassVar[str] = "server.pid"
    address_file: ClassVar[str] = "url"
    #: log text that means a port was taken between picking and binding it
    port_clash_text: ClassVar[str] = "address already in use"
    #: the exception type this server raises (a :class:`ServerError` subclass)
    error: ClassVar[type[ServerError]] = ServerError

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        port: int | None = None,
        startup_timeout: float = 60.0,
        stop_timeout: float = 30.0,
        die_with_parent: bool = True,
    ) -> None:
        self._owns_data_dir = data_dir is None
        self.data_dir = (
            Path(tempfile.mkdtemp(prefix=f"linewatch-{self.kind}-"))
            if data_dir is None
            else Path(data_dir).resolve()
        )
        self.port: int | None = port
        for name in self.other_ports:
            if not hasattr(self, name):
                setattr(self, name, None)
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.die_with_parent = die_with_parent
        self.last_start_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    # -- to override ------------------------------------------------------------------

    def command(self) -> list[str]:
        """The argv that runs the server in the foreground (ports are known)."""
        raise NotImplementedError

    def ready(self) -> bool:
        """One quick readiness probe; the base calls it until true or the deadline."""
        raise NotImplementedError

    def check_installed(self) -> None:
        """Raise :class:`ServerError` naming ``install_hint`` when the server is missing."""

    def prepare(self) -> None:
        """Write config files before each launch (ports are known)."""

    def after_ready(self, deadline: float) -> None:
        """Set-up once :meth:`ready` is true (e.g. a first admin user)."""

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``."""
        if self.port is None:
            raise self.error(f"{self.kind} has not been started")
        return f"{HOST}:{self.port}"

    @property
    def url(self) -> str:
        """``SCHEME://127.0.0.1:PORT``."""
        return f"{self.scheme}://{self.address}"

    def address_text(self) -> str:
        """What the address file holds once the server is ready."""
        return self.url

    # -- public API -------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def log_path(self) -> Path:
        return self.data_dir / self.log_file

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> Self:
        """Launch and wait until :meth:`ready`; free ports are re-picked on a clash."""
        if self.is_running():
            raise self.error(f"{self.kind} already running (pid {self.pid})")
        self.check_installed()
        began = time.monotonic()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        names = ("port", *self.other_ports)
        auto = {name for name in names if getattr(self, name) is None}
        for attempt in range(3):
            self._pick_ports(names)
            ports = {name: int(getattr(self, name)) for name in names}
            busy = sorted(port for port in ports.values() if not port_is_free(port))
            fixed_busy = sorted(ports[n] for n in names if n not in auto and ports[n] in busy)
            if fixed_busy or (busy and attempt == 2):
                raise self.error(f"{HOST} port(s) {fixed_busy or busy} already in use")
            if not busy:
                self.prepare()
                self._launch()
                try:
                    self._wait_ready(began + self.startup_timeout)
                    break
                except ServerError:
                    clash = self.port_clash_text.lower() in self.log_tail(200).lower()
                    self._terminate(signal.SIGKILL, 10.0)
                    if not clash or attempt == 2 or not auto:
                        raise
            for name in auto:
                setattr(self, name, None)
        self.last_start_seconds = time.monotonic() - began
        (self.data_dir / self.address_file).write_text(self.address_text() + "\n", "utf-8")
        atexit.register(self._atexit)
        return self

    def stop(self, timeout: float | None = None) -> None:
        """SIGTERM (clean shutdown), then SIGKILL after ``timeout``. No-op if stopped."""
        self._terminate(signal.SIGTERM, self.stop_timeout if timeout is None else timeout)

    def kill(self) -> None:
        """SIGKILL at once (a crash, for fault tests)."""
        self._terminate(signal.SIGKILL, 10.0)

    def restart(self, down_seconds: float = 0.0) -> Self:
        """Stop (if running), stay down ``down_seconds``, start on the same ports and data."""
        self.stop()
        if down_seconds > 0:
            time.sleep(down_seconds)
        return self.start()

    def close(self) -> None:
        """Stop, and remove the data dir if this object created it. Idempotent."""
        self.stop()
        if self._owns_data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        if not self.is_running():
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = f"pid={self.pid}" if self.is_running() else "stopped"
        return f"{type(self).__name__}(port={self.port}, {state}, data_dir={self.data_dir})"

    def log_tail(self, lines: int = 30) -> str:
        """The last ``lines`` lines of the server's log."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return f"(no {self.kind} log)"
        return "\n".join(text.splitlines()[-lines:])

    def failure(self, what: str) -> ServerError:
        """A :class:`ServerError` saying ``what`` and quoting the log's tail."""
        return self.error(f"{self.kind}: {what}; {self.log_path} ends:\n{self.log_tail(40)}")

    # -- internals --------------------------------------------------------------------

    def _pick_ports(self, names: tuple[str, ...]) -> None:
        taken: set[int] = {int(getattr(self, n)) for n in names if getattr(self, n) is not None}
        for name in names:
            if getattr(self, name) is None:
                port = free_port()
                while port in taken:
                    port = free_port()
                setattr(self, name, port)
                taken.add(port)

    def _launch(self) -> None:
        command = self.command()
        self._log = self.log_path.open("ab")
        self._log.write(f"\n===== linewatch: starting {' '.join(command)}\n".encode())
        self._log.flush()
        self._proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.data_dir,
            preexec_fn=_die_with_parent if self.die_with_parent else None,
        )
        (self.data_dir / self.pid_file).write_text(f"{self._proc.pid}\n", encoding="utf-8")

    def _wait_ready(self, deadline: float) -> None:
        assert self._proc is not None
        while True:
            if self._proc.poll() is not None:
                raise self.failure(f"exited with {self._proc.returncode} during startup")
            if self.ready():
                break
            if time.monotonic() >= deadline:
                raise self.failure(f"not ready on {self.address} after {self.startup_timeout}s")
            time.sleep(0.05)
        self.after_ready(deadline)

    def _terminate(self, sig: signal.Signals, timeout: float) -> None:
        proc = self._proc
        if proc is not None:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(sig)
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=30)
            self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        for name in (self.pid_file, self.address_file):
            (self.data_dir / name).unlink(missing_ok=True)
        atexit.unregister(self._atexit)

    def _atexit(self) -> None:
        with contextlib.suppress(Exception):
            self._terminate(signal.SIGTERM, 15.0)


class HttpServerProcess(ServerProcess):
    """A :class:`ServerProcess` with an HTTP API: ready when ``ready_path`` answers.

    ``binary``: the server executable (default: :meth:`default_binary`).
    """

    ready_path: ClassVar[str] = "/"
    ready_status: ClassVar[int] = 200

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        port: int | None = None,
        binary: str | os.PathLike[str] | None = None,
        startup_timeout: float = 60.0,
        stop_timeout: float = 30.0,
        die_with_parent: bool = True,
    ) -> None:
        super().__init__(
            data_dir,
            port=port,
            startup_timeout=startup_timeout,
            stop_timeout=stop_timeout,
            die_with_parent=die_with_parent,
        )
        self.binary = Path(binary) if binary is not None else self.default_binary()

    @classmethod
    def default_binary(cls) -> Path:
        raise NotImplementedError

    @classmethod
    def available(cls) -> bool:
        """Whether the default binary is installed."""
        binary = cls.default_binary()
        return binary.is_file() and os.access(binary, os.X_OK)

    def check_installed(self) -> None:
        if not (self.binary.is_file() and os.access(self.binary, os.X_OK)):
            raise self.error(f"{self.binary} not found: run `{self.install_hint}`")

    def ready(self) -> bool:
        try:
            status, _ = self.request("GET", self.ready_path, timeout=1.0)
        except OSError:
            return False
        return status == self.ready_status

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> tuple[int, bytes]:
        """One HTTP request to the server; returns (status, body) for any status."""
        url = self.url + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        req = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return int(resp.status), bytes(resp.read())
        except urllib.error.HTTPError as err:
            return int(err.code), bytes(err.read())
