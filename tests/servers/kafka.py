"""A real single-node Apache Kafka broker (KRaft, broker+controller) for tests.

Standard library only: importing this module starts nothing and needs no
Kafka client. The broker jars come from Maven Central through
``scripts/kafka.sh fetch`` (cached under ``.cache/kafka/<version>/libs``);
the broker runs as a plain ``java`` subprocess bound to 127.0.0.1 only.

Typical use in a fixture::

    with KafkaBroker() as broker:            # temp data dir, removed on exit
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
        ...
        broker.restart()                     # same port, same data
        broker.kill()                        # SIGKILL, for fault tests

The data dir holds ``server.properties``, ``log4j2.properties``,
``broker.log`` (broker stdout/stderr, read it when a test fails),
``format.log``, ``kafka.pid``, ``bootstrap`` and ``logs/`` (the Kafka log
dirs), the same layout ``scripts/kafka.sh start DIR`` writes, so
``scripts/kafka.sh status|stop DIR`` work on either.

Run as a script it probes a broker with a raw Metadata request (used by
``scripts/kafka.sh``)::

    python3 tests/servers/kafka.py probe 127.0.0.1:9092
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import ctypes
import importlib
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any

__all__ = [
    "KafkaBroker",
    "KafkaBrokerError",
    "default_kafka_version",
    "fetch_kafka",
    "free_port",
    "probe_metadata",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "kafka.sh"
TEMPLATE_DIR = REPO_ROOT / "scripts" / "kafka"
DEFAULT_CACHE_DIR = REPO_ROOT / ".cache" / "kafka"
HOST = "127.0.0.1"

PID_FILE = "kafka.pid"
BOOTSTRAP_FILE = "bootstrap"
BROKER_LOG = "broker.log"
FORMAT_LOG = "format.log"


class KafkaBrokerError(RuntimeError):
    """The broker could not be fetched, formatted, started or stopped."""


def default_kafka_version() -> str:
    """Kafka version to use: $KAFKA_VERSION, else the pom's ``kafka.version``."""
    env = os.environ.get("KAFKA_VERSION")
    if env:
        return env
    pom = (TEMPLATE_DIR / "pom.xml").read_text(encoding="utf-8")
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", pom)
    if match is None:
        raise KafkaBrokerError("no <kafka.version> in scripts/kafka/pom.xml")
    return match.group(1).strip()


def free_port(host: str = HOST) -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def fetch_kafka(cache_dir: Path | None = None, version: str | None = None) -> Path:
    """Make sure the broker jars are cached; return the ``libs`` dir.

    Downloads only when absent, through ``scripts/kafka.sh fetch`` (Maven).
    """
    cache = Path(cache_dir) if cache_dir is not None else _env_cache_dir()
    version = version or default_kafka_version()
    libs = cache / version / "libs"
    if _libs_complete(libs, version):
        return libs
    env = dict(os.environ, KAFKA_CACHE_DIR=str(cache), KAFKA_VERSION=version)
    proc = subprocess.run(
        ["bash", str(SCRIPT), "fetch"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0 or not _libs_complete(libs, version):
        raise KafkaBrokerError(
            f"scripts/kafka.sh fetch failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return libs


# --- raw protocol probe --------------------------------------------------------


def _kafka_string(value: str) -> bytes:
    data = value.encode()
    return struct.pack(">h", len(data)) + data


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    buf = bytearray()
    while len(buf) < size:
        chunk = sock.recv(size - len(buf))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        buf += chunk
    return bytes(buf)


def probe_metadata(host: str, port: int, timeout: float = 5.0) -> list[tuple[int, str, int]]:
    """Send a Metadata v1 request (no topics); return the brokers it lists.

    Raises OSError (or ConnectionError/struct.error) when the broker does not
    answer. An empty list means the broker answers but is not registered yet.
    """
    correlation_id = 0x4C57  # "LW"
    header = struct.pack(">hhi", 3, 1, correlation_id) + _kafka_string("linewatch-probe")
    body = struct.pack(">i", 0)  # v1: empty topic array = no topics
    request = header + body
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(struct.pack(">i", len(request)) + request)
        (size,) = struct.unpack(">i", _recv_exact(sock, 4))
        payload = _recv_exact(sock, size)
    (got_id, count) = struct.unpack_from(">ii", payload, 0)
    if got_id != correlation_id:
        raise ConnectionError(f"bad correlation id {got_id}")
    offset = 8
    brokers: list[tuple[int, str, int]] = []
    for _ in range(count):
        (node_id, host_len) = struct.unpack_from(">ih", payload, offset)
        offset += 6
        broker_host = payload[offset : offset + host_len].decode()
        offset += host_len
        (broker_port, rack_len) = struct.unpack_from(">ih", payload, offset)
        offset += 6 + max(rack_len, 0)
        brokers.append((node_id, broker_host, broker_port))
    return brokers


# --- the broker ----------------------------------------------------------------


class KafkaBroker:
    """One KRaft broker+controller on 127.0.0.1, run as a ``java`` subprocess.

    ``cache_dir``: where the jars are cached (default ``$KAFKA_CACHE_DIR`` or
    ``<repo>/.cache/kafka``). ``data_dir``: config, logs and Kafka data; when
    omitted a temporary dir is made and removed by :meth:`close` / ``with``.
    ``port``: PLAINTEXT port (default: a free one; ``$KAFKA_PORT`` is only
    read by the script, so that several brokers can run in one test session);
    the controller listens on a second free port. Both are kept across
    :meth:`restart`. ``config`` adds or overrides ``server.properties`` keys.
    ``die_with_parent``: the broker gets SIGTERM when the thread that started
    it exits (Linux ``PR_SET_PDEATHSIG``), so a crashed test run leaks no JVM.
    """

    def __init__(
        self,
        cache_dir: str | Path | None = None,
        data_dir: str | Path | None = None,
        *,
        port: int | None = None,
        version: str | None = None,
        heap: str = "512m",
        config: Mapping[str, str | int] | None = None,
        startup_timeout: float = 60.0,
        stop_timeout: float = 30.0,
        java: str | None = None,
        die_with_parent: bool = True,
    ) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir is not None else _env_cache_dir()
        self.version = version or default_kafka_version()
        self._owns_data_dir = data_dir is None
        self.data_dir = (
            Path(tempfile.mkdtemp(prefix="linewatch-kafka-"))
            if data_dir is None
            else Path(data_dir).resolve()
        )
        self.port: int | None = port
        self.controller_port: int | None = None
        self.heap = heap
        self.config = {k: str(v) for k, v in (config or {}).items()}
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.java = java or shutil.which("java") or "java"
        self.die_with_parent = die_with_parent
        self.cluster_id: str | None = None
        self.last_start_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    # -- public API ---------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        """``"127.0.0.1:PORT"``, for ``bootstrap_servers``/``bootstrap.servers``."""
        if self.port is None:
            raise KafkaBrokerError("broker has not been started")
        return f"{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def log_path(self) -> Path:
        return self.data_dir / BROKER_LOG

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> KafkaBroker:
        """Fetch jars if needed, format storage once, launch, wait until ready."""
        if self.is_running():
            raise KafkaBrokerError(f"broker already running (pid {self.pid})")
        libs = fetch_kafka(self.cache_dir, self.version)
        began = time.monotonic()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Ports given by the caller or kept from an earlier start (restart) are
        # fixed; free ones picked here are re-picked if someone takes them first.
        auto_port = self.port is None
        auto_controller = self.controller_port is None
        for attempt in range(3):
            if self.port is None:
                self.port = free_port()
            while self.controller_port is None or self.controller_port == self.port:
                self.controller_port = free_port()
            busy = [p for p in (self.port, self.controller_port) if not _port_is_free(p)]
            fixed_busy = [
                p
                for p, auto in ((self.port, auto_port), (self.controller_port, auto_controller))
                if p in busy and not auto
            ]
            if fixed_busy:
                raise KafkaBrokerError(f"127.0.0.1 port(s) {fixed_busy} already in use")
            if not busy:
                self._write_config()
                self._format(libs)
                self._launch(libs)
                try:
                    self._wait_ready(began + self.startup_timeout)
                    break
                except KafkaBrokerError:
                    clash = "Address already in use" in self._log_tail(200)
                    self._terminate(signal.SIGKILL, 10.0)
                    if not clash or attempt == 2 or not (auto_port or auto_controller):
                        raise
            elif attempt == 2:
                raise KafkaBrokerError(f"127.0.0.1 port(s) {busy} already in use")
            if auto_port:
                self.port = None
            if auto_controller:
                self.controller_port = None
        self.last_start_seconds = time.monotonic() - began
        (self.data_dir / BOOTSTRAP_FILE).write_text(self.bootstrap + "\n", encoding="utf-8")
        atexit.register(self._atexit)
        return self

    def stop(self, timeout: float | None = None) -> None:
        """SIGTERM (controlled shutdown), then SIGKILL after ``timeout``."""
        self._terminate(signal.SIGTERM, self.stop_timeout if timeout is None else timeout)

    def kill(self) -> None:
        """SIGKILL the broker at once (a crash, for fault tests)."""
        self._terminate(signal.SIGKILL, 10.0)

    def restart(self) -> KafkaBroker:
        """Stop (if running) and start again on the same ports and data dir."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop, and remove the data dir if this object created it."""
        self.stop()
        if self._owns_data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> KafkaBroker:
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
        return f"KafkaBroker({self.version}, port={self.port}, {state}, data_dir={self.data_dir})"

    # -- internals ----------------------------------------------------------------

    def _write_config(self) -> None:
        assert self.port is not None and self.controller_port is not None
        self.log_dir.mkdir(parents=True, exist_ok=True)
        text = (TEMPLATE_DIR / "server.properties.in").read_text(encoding="utf-8")
        text = (
            text.replace("@PORT@", str(self.port))
            .replace("@CONTROLLER_PORT@", str(self.controller_port))
            .replace("@LOG_DIR@", str(self.log_dir))
        )
        if self.config:
            text += "\n# KafkaBroker(config=...) overrides\n"
            text += "".join(f"{key}={value}\n" for key, value in self.config.items())
        (self.data_dir / "server.properties").write_text(text, encoding="utf-8")
        shutil.copyfile(TEMPLATE_DIR / "log4j2.properties", self.data_dir / "log4j2.properties")

    def _java_cmd(
        self, libs: Path, heap: str, main: str, *args: str, jvm: tuple[str, ...] = ()
    ) -> list[str]:
        extra = [*jvm, *os.environ.get("KAFKA_JVM_OPTS", "").split()]
        return [
            self.java,
            f"-Xmx{heap}",
            "-Xms64m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
            *extra,
            "-cp",
            f"{libs}/*",
            main,
            *args,
        ]

    def _format(self, libs: Path) -> None:
        if (self.log_dir / "meta.properties").exists():
            return
        self.cluster_id = _random_cluster_id()
        cmd = self._java_cmd(
            libs,
            "256m",
            "kafka.tools.StorageTool",
            "format",
            "--ignore-formatted",
            "-t",
            self.cluster_id,
            "-c",
            str(self.data_dir / "server.properties"),
            jvm=("-XX:TieredStopAtLevel=1",),  # C1 only: ~0.7 s faster for this short run
        )
        with (self.data_dir / FORMAT_LOG).open("wb") as out:
            proc = subprocess.run(
                cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False
            )
        if proc.returncode != 0:
            log = (self.data_dir / FORMAT_LOG).read_text(encoding="utf-8", errors="replace")
            raise KafkaBrokerError(f"kafka storage format failed:\n{log[-4000:]}")

    def _launch(self, libs: Path) -> None:
        cmd = self._java_cmd(
            libs, self.heap, "kafka.Kafka", str(self.data_dir / "server.properties")
        )
        self._log = (self.data_dir / BROKER_LOG).open("ab")
        self._log.write(f"\n===== linewatch: starting {' '.join(cmd)}\n".encode())
        self._log.flush()
        self._proc = subprocess.Popen(
            cmd,
            cwd=self.data_dir,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if self.die_with_parent else None,
        )
        (self.data_dir / PID_FILE).write_text(f"{self._proc.pid}\n", encoding="utf-8")

    def _wait_ready(self, deadline: float) -> None:
        assert self._proc is not None and self.port is not None
        last_error = "no answer"
        while True:
            if self._proc.poll() is not None:
                raise KafkaBrokerError(
                    f"broker exited with {self._proc.returncode} during startup; "
                    f"{self.log_path} ends:\n{self._log_tail(40)}"
                )
            try:
                if probe_metadata(HOST, self.port, timeout=2.0):
                    break
                last_error = "metadata lists no broker yet"
            except (OSError, struct.error) as exc:
                last_error = repr(exc)
            if time.monotonic() > deadline:
                raise KafkaBrokerError(
                    f"broker not ready on {self.bootstrap} in time ({last_error}); "
                    f"{self.log_path} ends:\n{self._log_tail(40)}"
                )
            time.sleep(0.2)
        self._check_with_kafka_python(deadline)

    def _check_with_kafka_python(self, deadline: float) -> None:
        """If kafka-python is importable, also list topics through it."""
        try:
            admin_mod: Any = importlib.import_module("kafka.admin")
        except ImportError:
            return
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                admin = admin_mod.KafkaAdminClient(
                    bootstrap_servers=self.bootstrap,
                    client_id="linewatch-readiness",
                    request_timeout_ms=5000,
                )
                try:
                    admin.list_topics()
                finally:
                    admin.close()
                return
            except Exception as exc:  # any client error means "not ready yet"
                last = exc
                time.sleep(0.3)
        raise KafkaBrokerError(
            f"kafka-python could not list topics on {self.bootstrap}: {last!r}; "
            f"{self.log_path} ends:\n{self._log_tail(40)}"
        )

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
        for name in (PID_FILE, BOOTSTRAP_FILE):
            (self.data_dir / name).unlink(missing_ok=True)
        atexit.unregister(self._atexit)

    def _atexit(self) -> None:
        with contextlib.suppress(Exception):
            self._terminate(signal.SIGTERM, 15.0)

    def _log_tail(self, lines: int) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no broker log)"
        return "\n".join(text.splitlines()[-lines:])


# --- helpers -------------------------------------------------------------------


def _env_cache_dir() -> Path:
    env = os.environ.get("KAFKA_CACHE_DIR")
    return Path(env) if env else DEFAULT_CACHE_DIR


def _port_is_free(port: int) -> bool:
    """Whether a listener could bind 127.0.0.1:port (as Java does, SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def _libs_complete(libs: Path, version: str) -> bool:
    return (libs / f"kafka_2.13-{version}.jar").is_file()


def _random_cluster_id() -> str:
    """A Kafka Uuid in its base64url form (what ``kafka-storage random-uuid`` prints)."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM me when my parent thread dies (Linux)."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    probe = sub.add_parser("probe", help="send a Metadata request; exit 0 if a broker answers")
    probe.add_argument("address", help="HOST:PORT")
    probe.add_argument("--timeout", type=float, default=3.0)
    args = parser.parse_args(argv)
    host, _, port = str(args.address).rpartition(":")
    try:
        brokers = probe_metadata(host or HOST, int(port), timeout=args.timeout)
    except (OSError, struct.error, ValueError) as exc:
        print(f"no answer from {args.address}: {exc!r}", file=sys.stderr)
        return 1
    if not brokers:
        print(f"{args.address} answers but lists no broker yet", file=sys.stderr)
        return 2
    for node_id, broker_host, broker_port in brokers:
        print(f"broker {node_id} at {broker_host}:{broker_port}")
    return 0


if __name__ == "__main__":
    sys.exit(_main())
