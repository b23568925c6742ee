"""Real InfluxDB-compatible servers on 127.0.0.1 for tests.

Standard library only: importing this module starts nothing. Three kinds,
all installed by ``bash scripts/influxdb.sh install`` (apt needs root):

* :class:`Influx1Server` - Debian's InfluxDB 1.6.7 (``/usr/bin/influxd``):
  the v1 HTTP API only (``/write``, ``/query``, ``/ping``).
* :class:`Influx11Server` - InfluxDB OSS 1.11.x built from Go modules into
  ``$INFLUXDB_CACHE_DIR/<version>/bin/influxd``: the v1 API plus the v2
  compatibility API (``/api/v2/write?bucket=db/rp``, ``Authorization: Token
  user:pass``, Flux on ``/api/v2/query``), i.e. what ``influxdb-client`` uses.
* :class:`VictoriaMetricsServer` - Debian's VictoriaMetrics 1.79: line
  protocol on ``/write`` and ``/api/v2/write``, read back with
  ``/api/v1/export`` (see :meth:`VictoriaMetricsServer.export`).

Typical use in a fixture::

    with Influx11Server(tmp_path / "influx") as srv:   # free port, waits for /ping
        srv.create_database("lw")
        client = InfluxDBClient(srv.url, token=srv.token, org="-")
        ...
        srv.restart(down_seconds=3)       # outage: same port, same data
        srv.kill()                        # SIGKILL, for crash tests

``data_dir`` holds ``influxdb.conf`` (influx kinds), ``server.log`` (read it
when a test fails), ``server.pid``, ``url`` and the server's data, the layout
``scripts/influxdb.sh start KIND DIR`` writes, so ``scripts/influxdb.sh
status|stop KIND DIR`` work on either. :meth:`~InfluxServer.available` tells
whether a binary is installed; tests never skip for want of one (`make test` runs
``scripts/influxdb.sh install`` first).

Run as a script it starts one server in the foreground until Ctrl-C::

    python3 tests/servers/influxdb.py influx11 --data-dir /tmp/i11
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import ctypes
import gzip as gzip_module
import json
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
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any, ClassVar, Self

__all__ = [
    "Influx1Server",
    "Influx11Server",
    "InfluxServer",
    "InfluxServerError",
    "VictoriaMetricsServer",
    "default_cache_dir",
    "free_port",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "influxdb.sh"
CONFIG_TEMPLATE = REPO_ROOT / "scripts" / "influxdb" / "influxdb.conf.in"
HOST = "127.0.0.1"
INFLUX11_VERSION = os.environ.get("INFLUXDB11_VERSION", "1.11.8")

PID_FILE = "server.pid"
URL_FILE = "url"
LOG_FILE = "server.log"
CONFIG_FILE = "influxdb.conf"


class InfluxServerError(RuntimeError):
    """A server binary is missing, or the server could not start or stop."""


def default_cache_dir() -> Path:
    """``$INFLUXDB_CACHE_DIR``, else ``${XDG_CACHE_HOME:-~/.cache}/linewatch/influxdb``."""
    env = os.environ.get("INFLUXDB_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "linewatch" / "influxdb"


def free_port(host: str = HOST) -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM me when my parent thread dies (Linux)."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)


class InfluxServer:
    """Base: one server subprocess on 127.0.0.1 with a data dir and an HTTP port.

    ``data_dir``: config, log and data; when omitted a temporary dir is made
    and removed by :meth:`close` / ``with``. ``port``: HTTP port (default: a
    free one, kept across :meth:`restart`). ``binary``: server executable
    (default: the class's :meth:`default_binary`). ``die_with_parent``: the
    server gets SIGTERM when the thread that started it exits, so a crashed
    test run leaks no server.
    """

    kind: ClassVar[str] = ""

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
        self._owns_data_dir = data_dir is None
        self.data_dir = (
            Path(tempfile.mkdtemp(prefix=f"linewatch-{self.kind}-"))
            if data_dir is None
            else Path(data_dir).resolve()
        )
        self.port: int | None = port
        self.binary = Path(binary) if binary is not None else self.default_binary()
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.die_with_parent = die_with_parent
        self.last_start_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    # -- to override ------------------------------------------------------------------

    @classmethod
    def default_binary(cls) -> Path:
        raise NotImplementedError

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _prepare(self) -> None:
        """Write config files before a launch (ports are known)."""

    def _after_ready(self) -> None:
        """Set-up once /ping answers (e.g. the first admin user)."""

    def _other_ports(self) -> list[int]:
        return []

    def _reset_auto_ports(self) -> None:
        """Forget ports picked here (not given by the caller) before a retry."""

    # -- public API -------------------------------------------------------------------

    @classmethod
    def available(cls) -> bool:
        """Whether the server binary is installed (``scripts/influxdb.sh install`` puts it)."""
        binary = cls.default_binary()
        return binary.is_file() and os.access(binary, os.X_OK)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        if self.port is None:
            raise InfluxServerError(f"{self.kind} has not been started")
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def log_path(self) -> Path:
        return self.data_dir / LOG_FILE

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> Self:
        """Launch and wait until ``/ping`` answers 204 (port kept across restarts)."""
        if self.is_running():
            raise InfluxServerError(f"{self.kind} already running (pid {self.pid})")
        if not (self.binary.is_file() and os.access(self.binary, os.X_OK)):
            raise InfluxServerError(
                f"{self.binary} not found: run `bash {SCRIPT.relative_to(REPO_ROOT)} install`"
            )
        began = time.monotonic()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        auto_port = self.port is None
        for attempt in range(3):
            if self.port is None:
                self.port = free_port()
            busy = [p for p in (self.port, *self._other_ports()) if not _port_is_free(p)]
            if busy and (not auto_port or attempt == 2):
                raise InfluxServerError(f"{HOST} port(s) {busy} already in use")
            if not busy:
                self._prepare()
                self._launch()
                try:
                    self._wait_ready(began + self.startup_timeout)
                    break
                except InfluxServerError:
                    clash = "address already in use" in self._log_tail(50).lower()
                    self._terminate(signal.SIGKILL, 10.0)
                    if not clash or attempt == 2 or not auto_port:
                        raise
            if auto_port:
                self.port = None
                self._reset_auto_ports()
        self._after_ready()
        self.last_start_seconds = time.monotonic() - began
        (self.data_dir / URL_FILE).write_text(self.url + "\n", encoding="utf-8")
        atexit.register(self._atexit)
        return self

    def stop(self, timeout: float | None = None) -> None:
        """SIGTERM (clean shutdown), then SIGKILL after ``timeout``. No-op if stopped."""
        self._terminate(signal.SIGTERM, self.stop_timeout if timeout is None else timeout)

    def kill(self) -> None:
        """SIGKILL at once (a crash, for fault tests)."""
        self._terminate(signal.SIGKILL, 10.0)

    def restart(self, down_seconds: float = 0.0) -> Self:
        """Stop (if running), stay down ``down_seconds``, start on the same port and data."""
        self.stop()
        if down_seconds > 0:
            time.sleep(down_seconds)
        return self.start()

    def close(self) -> None:
        """Stop, and remove the data dir if this object created it."""
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

    def ping(self, timeout: float = 2.0) -> bool:
        """Whether ``/ping`` answers 204 now."""
        try:
            status, _ = self.request("GET", "/ping", timeout=timeout)
        except OSError:
            return False
        return status == 204

    def write_lines(
        self,
        lines: str | Iterable[str],
        *,
        path: str = "/write",
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        gzip: bool = False,
    ) -> tuple[int, bytes]:
        """POST line protocol (optionally gzip-compressed) to ``path``."""
        text = lines if isinstance(lines, str) else "\n".join(lines)
        body = text.encode("utf-8")
        all_headers = {"Content-Type": "text/plain; charset=utf-8", **(headers or {})}
        if gzip:
            body = gzip_module.compress(body)
            all_headers["Content-Encoding"] = "gzip"
        return self.request("POST", path, params=params, body=body, headers=all_headers)

    # -- internals --------------------------------------------------------------------

    def _launch(self) -> None:
        self._log = self.log_path.open("ab")
        self._log.write(f"===== {self.kind}: starting at {time.ctime()}\n".encode())
        self._log.flush()
        self._proc = subprocess.Popen(
            self._command(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.data_dir,
            preexec_fn=_die_with_parent if self.die_with_parent else None,
        )
        (self.data_dir / PID_FILE).write_text(f"{self._proc.pid}\n", encoding="utf-8")

    def _wait_ready(self, deadline: float) -> None:
        assert self._proc is not None
        while True:
            if self._proc.poll() is not None:
                raise InfluxServerError(
                    f"{self.kind} exited with {self._proc.returncode} during startup; "
                    f"{self.log_path} ends:\n{self._log_tail(30)}"
                )
            if self.ping(timeout=1.0):
                return
            if time.monotonic() >= deadline:
                raise InfluxServerError(
                    f"{self.kind} not answering {self.url}/ping after {self.startup_timeout}s; "
                    f"{self.log_path} ends:\n{self._log_tail(30)}"
                )
            time.sleep(0.05)

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
        for name in (PID_FILE, URL_FILE):
            (self.data_dir / name).unlink(missing_ok=True)
        atexit.unregister(self._atexit)

    def _atexit(self) -> None:
        with contextlib.suppress(Exception):
            self._terminate(signal.SIGTERM, 15.0)

    def _log_tail(self, lines: int) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])


class Influx1Server(InfluxServer):
    """Debian's InfluxDB 1.6.7 (``$INFLUXDB1_BINARY`` or ``/usr/bin/influxd``).

    HTTP API on 127.0.0.1:``port``; the backup/restore RPC service (the 1.x
    ``bind-address``, default :8088) on a second free loopback port; no other
    listener. ``auth=(user, password)`` turns on ``auth-enabled`` and makes
    that admin user at start; requests then need ``u``/``p`` params or basic
    auth (1.6.7 does not accept ``Authorization: Token``; 1.8+ does).
    """

    kind = "influx1"
    flux_enabled = False

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        port: int | None = None,
        rpc_port: int | None = None,
        auth: tuple[str, str] | None = None,
        binary: str | os.PathLike[str] | None = None,
        startup_timeout: float = 60.0,
        stop_timeout: float = 30.0,
        die_with_parent: bool = True,
    ) -> None:
        super().__init__(
            data_dir,
            port=port,
            binary=binary,
            startup_timeout=startup_timeout,
            stop_timeout=stop_timeout,
            die_with_parent=die_with_parent,
        )
        self.rpc_port: int | None = rpc_port
        self._auto_rpc_port = rpc_port is None
        self.auth = auth

    @classmethod
    def default_binary(cls) -> Path:
        return Path(os.environ.get("INFLUXDB1_BINARY", "/usr/bin/influxd"))

    @property
    def config_path(self) -> Path:
        return self.data_dir / CONFIG_FILE

    @property
    def token(self) -> str:
        """``"user:password"`` (the 1.8+ ``Token`` form), or any text when auth is off."""
        return f"{self.auth[0]}:{self.auth[1]}" if self.auth else "linewatch:linewatch"

    def _auth_params(self) -> dict[str, str]:
        return {"u": self.auth[0], "p": self.auth[1]} if self.auth else {}

    def _other_ports(self) -> list[int]:
        while self.rpc_port is None or self.rpc_port == self.port:
            self.rpc_port = free_port()
        return [self.rpc_port]

    def _reset_auto_ports(self) -> None:
        if self._auto_rpc_port:
            self.rpc_port = None

    def _prepare(self) -> None:
        values = {
            "@DIR@": str(self.data_dir),
            "@HTTP_PORT@": str(self.port),
            "@RPC_PORT@": str(self.rpc_port),
            "@AUTH_ENABLED@": "true" if self.auth else "false",
            "@FLUX_ENABLED@": "true" if self.flux_enabled else "false",
        }
        text = CONFIG_TEMPLATE.read_text(encoding="utf-8")
        for key, value in values.items():
            text = text.replace(key, value)
        self.config_path.write_text(text, encoding="utf-8")

    def _command(self) -> list[str]:
        return [str(self.binary), "run", "-config", str(self.config_path)]

    def _after_ready(self) -> None:
        if self.auth:
            # Accepted without a credentials check while no user exists; on a
            # restart (user exists) the same credentials make it a no-op.
            user, password = self.auth
            self.query(f"CREATE USER \"{user}\" WITH PASSWORD '{password}' WITH ALL PRIVILEGES")

    def query(self, q: str, db: str | None = None, *, epoch: str | None = None) -> dict[str, Any]:
        """InfluxQL on ``/query`` (POST); raises on an HTTP or statement error."""
        form = {"q": q}
        if db is not None:
            form["db"] = db
        if epoch is not None:
            form["epoch"] = epoch
        status, body = self.request(
            "POST",
            "/query",
            params=self._auth_params(),  # 1.x reads u/p from the URL only
            body=urllib.parse.urlencode(form).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        result: dict[str, Any] = json.loads(body or b"{}")
        errors = [r["error"] for r in result.get("results", []) if "error" in r]
        if status != 200 or "error" in result or errors:
            raise InfluxServerError(f"query {q!r}: HTTP {status}: {body.decode(errors='replace')}")
        return result

    def create_database(self, name: str) -> None:
        self.query(f'CREATE DATABASE "{name}"')

    def select(self, q: str, db: str) -> list[dict[str, Any]]:
        """Rows of an InfluxQL SELECT as dicts (``time`` in ns), all series flattened."""
        rows: list[dict[str, Any]] = []
        for result in self.query(q, db, epoch="ns").get("results", []):
            for series in result.get("series", []):
                tags = series.get("tags", {})
                for values in series["values"]:
                    row = dict(zip(series["columns"], values, strict=True))
                    row.update(tags)
                    row["_measurement"] = series["name"]
                    rows.append(row)
        return rows

    def write(
        self, db: str, lines: str | Iterable[str], *, precision: str = "ns", gzip: bool = False
    ) -> tuple[int, bytes]:
        """Line protocol to ``/write?db=...`` (with the auth params when auth is on)."""
        params = {"db": db, "precision": precision, **self._auth_params()}
        return self.write_lines(lines, params=params, gzip=gzip)


class Influx11Server(Influx1Server):
    """InfluxDB OSS 1.11.x built by ``scripts/influxdb.sh install``.

    Binary: ``$INFLUXDB11_BINARY``, else
    ``$INFLUXDB_CACHE_DIR/<version>/bin/influxd``. Same config as
    :class:`Influx1Server` plus ``flux-enabled``, so ``influxdb-client``'s
    write API (``/api/v2/write?bucket=db/rp``, ``Token user:pass``) and query
    API (``/api/v2/query``, bucket ``"db/autogen"``) work; ``org`` is ignored.
    """

    kind = "influx11"
    flux_enabled = True

    @classmethod
    def default_binary(cls) -> Path:
        env = os.environ.get("INFLUXDB11_BINARY")
        if env:
            return Path(env)
        return default_cache_dir() / INFLUX11_VERSION / "bin" / "influxd"

    def write_v2(
        self,
        bucket: str,
        lines: str | Iterable[str],
        *,
        precision: str = "ns",
        token: str | None = None,
        gzip: bool = False,
    ) -> tuple[int, bytes]:
        """Line protocol to ``/api/v2/write?bucket=...`` with ``Token`` auth."""
        headers = {"Authorization": f"Token {self.token if token is None else token}"}
        params = {"bucket": bucket, "precision": precision, "org": "-"}
        return self.write_lines(
            lines, path="/api/v2/write", params=params, headers=headers, gzip=gzip
        )


class VictoriaMetricsServer(InfluxServer):
    """Debian's VictoriaMetrics (``$VICTORIA_METRICS_BINARY`` or ``/usr/bin/victoria-metrics``).

    Only ``-httpListenAddr=127.0.0.1:port`` listens (graphite, influx TCP/UDP
    and opentsdb listeners stay off); storage in ``data_dir/vmdata``.
    Defaults suited to tests: ``-retentionPeriod=100y`` (else samples older
    than a month are silently dropped), ``-search.latencyOffset=0s`` and, with
    ``dedup=True``, ``-dedup.minScrapeInterval=1ms`` so that writing the same
    point twice reads back as one sample (without it, ``/api/v1/export``
    returns both). VictoriaMetrics accepts any auth and any db/bucket; a
    measurement ``m`` with field ``f`` becomes the metric ``m_f``; ``/write``
    adds a ``db`` label from ``?db=``, ``/api/v2/write`` does not; timestamps
    are kept in milliseconds. Malformed lines are skipped with a 204.
    """

    kind = "vm"

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        port: int | None = None,
        dedup: bool = True,
        extra_args: Iterable[str] = (),
        binary: str | os.PathLike[str] | None = None,
        startup_timeout: float = 60.0,
        stop_timeout: float = 30.0,
        die_with_parent: bool = True,
    ) -> None:
        super().__init__(
            data_dir,
            port=port,
            binary=binary,
            startup_timeout=startup_timeout,
            stop_timeout=stop_timeout,
            die_with_parent=die_with_parent,
        )
        self.dedup = dedup
        self.extra_args = list(extra_args)

    @classmethod
    def default_binary(cls) -> Path:
        return Path(os.environ.get("VICTORIA_METRICS_BINARY", "/usr/bin/victoria-metrics"))

    def _command(self) -> list[str]:
        cmd = [
            str(self.binary),
            f"-httpListenAddr={HOST}:{self.port}",
            f"-storageDataPath={self.data_dir / 'vmdata'}",
            "-retentionPeriod=100y",
            "-search.latencyOffset=0s",
            "-loggerLevel=WARN",
            "-loggerOutput=stdout",
        ]
        if self.dedup:
            cmd.append("-dedup.minScrapeInterval=1ms")
        return cmd + self.extra_args

    @property
    def token(self) -> str:
        """Any token works (VictoriaMetrics ignores ``Authorization``)."""
        return "linewatch:linewatch"

    def flush(self) -> None:
        """Make recent writes searchable now (``/internal/force_flush``)."""
        status, body = self.request("GET", "/internal/force_flush")
        if status != 200:
            raise InfluxServerError(f"force_flush: HTTP {status}: {body!r}")

    def export(self, match: str = '{__name__!=""}') -> list[dict[str, Any]]:
        """Flush, then ``/api/v1/export``: one dict per series with ``metric``,
        ``values``, ``timestamps`` (ms)."""
        self.flush()
        status, body = self.request(
            "POST",
            "/api/v1/export",
            body=urllib.parse.urlencode({"match[]": match}).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        if status != 200:
            raise InfluxServerError(f"export {match}: HTTP {status}: {body!r}")
        return [json.loads(line) for line in body.splitlines() if line.strip()]


_KINDS: dict[str, type[InfluxServer]] = {
    "influx1": Influx1Server,
    "influx11": Influx11Server,
    "vm": VictoriaMetricsServer,
}


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run one server in the foreground until Ctrl-C.")
    parser.add_argument("kind", choices=sorted(_KINDS))
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    server = _KINDS[args.kind](args.data_dir, port=args.port)
    with server:
        print(f"{args.kind} ready at {server.url} (data {server.data_dir}); Ctrl-C stops it")
        with contextlib.suppress(KeyboardInterrupt):
            while server.is_running():
                time.sleep(0.5)
    return 0


if __name__ == "__main__":
    sys.exit(_main())
