"""A real single-node Apache Kafka broker (KRaft, broker+controller) for tests.

Standard library only: importing this module starts nothing and needs no Kafka
client. The broker jars come from Maven Central through ``scripts/kafka.sh fetch``
(cached under ``<checkout>/.cache/kafka/<version>/libs``, or ``$KAFKA_CACHE_DIR``);
the broker runs as a plain ``java`` subprocess bound to 127.0.0.1 only. The config
templates are ``scripts/kafka/*`` of the Linewatch checkout (an editable install).

Typical use in a fixture::

    with KafkaBroker() as broker:            # temp data dir, removed on exit
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
        ...
        broker.restart()                     # same ports, same data
        broker.kill()                        # SIGKILL, for fault tests

The data dir holds ``server.properties``, ``log4j2.properties``, ``broker.log``
(broker stdout/stderr, read it when a test fails), ``format.log``, ``kafka.pid``,
``bootstrap`` and ``logs/`` (the Kafka log dirs), the same layout ``scripts/kafka.sh
start DIR`` writes, so ``scripts/kafka.sh status|stop DIR`` work on either.

Run as a module it probes a broker with a raw Metadata request (``scripts/kafka.sh``
uses it for readiness)::

    python3 -m linewatch.connectors.testing.kafka probe 127.0.0.1:9092
"""

from __future__ import annotations

import argparse
import base64
import importlib
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from linewatch.connectors.testing.servers import (
    HOST,
    ServerError,
    ServerProcess,
    free_port,
    source_tree,
)

__all__ = [
    "KafkaBroker",
    "KafkaBrokerError",
    "default_kafka_version",
    "fetch_kafka",
    "free_port",
    "probe_metadata",
]

TEMPLATES = "scripts/kafka"
SCRIPT = "scripts/kafka.sh"
FORMAT_LOG = "format.log"


class KafkaBrokerError(ServerError):
    """The broker could not be fetched, formatted, started or stopped."""


def _templates() -> Path:
    try:
        return source_tree(TEMPLATES) / TEMPLATES
    except ServerError as exc:
        raise KafkaBrokerError(str(exc)) from None


def default_kafka_version() -> str:
    """Kafka version to use: $KAFKA_VERSION, else the pom's ``kafka.version``."""
    env = os.environ.get("KAFKA_VERSION")
    if env:
        return env
    pom = (_templates() / "pom.xml").read_text(encoding="utf-8")
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", pom)
    if match is None:
        raise KafkaBrokerError("no <kafka.version> in scripts/kafka/pom.xml")
    return match.group(1).strip()


def _env_cache_dir() -> Path:
    env = os.environ.get("KAFKA_CACHE_DIR")
    return Path(env) if env else _templates().parents[1] / ".cache" / "kafka"


def _libs_complete(libs: Path, version: str) -> bool:
    return (libs / f"kafka_2.13-{version}.jar").is_file()


def fetch_kafka(cache_dir: Path | None = None, version: str | None = None) -> Path:
    """Make sure the broker jars are cached; return the ``libs`` dir.

    Downloads only when absent, through ``scripts/kafka.sh fetch`` (Maven).
    """
    cache = Path(cache_dir) if cache_dir is not None else _env_cache_dir()
    version = version or default_kafka_version()
    libs = cache / version / "libs"
    if _libs_complete(libs, version):
        return libs
    script = _templates().parents[1] / SCRIPT
    env = dict(os.environ, KAFKA_CACHE_DIR=str(cache), KAFKA_VERSION=version)
    proc = subprocess.run(
        ["bash", str(script), "fetch"],
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


def _random_cluster_id() -> str:
    """A Kafka Uuid in its base64url form (what ``kafka-storage random-uuid`` prints)."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


class KafkaBroker(ServerProcess):
    """One KRaft broker+controller on 127.0.0.1, run as a ``java`` subprocess.

    ``cache_dir``: where the jars are cached (default ``$KAFKA_CACHE_DIR`` or
    ``<checkout>/.cache/kafka``). ``data_dir``: config, logs and Kafka data; when
    omitted a temporary dir is made and removed by :meth:`close` / ``with``.
    ``port``: PLAINTEXT port (default: a free one; ``$KAFKA_PORT`` is only read by
    the script, so that several brokers can run in one test session); the
    controller listens on a second free port. Both are kept across
    :meth:`restart`. ``config`` adds or overrides ``server.properties`` keys.
    """

    kind = "kafka"
    install_hint = "bash scripts/kafka.sh fetch"
    other_ports: ClassVar[tuple[str, ...]] = ("controller_port",)
    scheme = "kafka"
    log_file = "broker.log"
    pid_file = "kafka.pid"
    address_file = "bootstrap"
    error = KafkaBrokerError

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
        self.controller_port: int | None = None
        super().__init__(
            data_dir,
            port=port,
            startup_timeout=startup_timeout,
            stop_timeout=stop_timeout,
            die_with_parent=die_with_parent,
        )
        self.cache_dir = Path(cache_dir) if cache_dir is not None else _env_cache_dir()
        self.version = version or default_kafka_version()
        self.heap = heap
        self.config = {k: str(v) for k, v in (config or {}).items()}
        self.java = java or shutil.which("java") or "java"
        self.cluster_id: str | None = None
        self._libs: Path | None = None

    @classmethod
    def available(cls) -> bool:
        """Whether the broker jars are cached (``scripts/kafka.sh fetch`` puts them)."""
        version = default_kafka_version()
        return _libs_complete(_env_cache_dir() / version / "libs", version)

    @property
    def bootstrap(self) -> str:
        """``"127.0.0.1:PORT"``, for ``bootstrap_servers``/``bootstrap.servers``."""
        if self.port is None:
            raise KafkaBrokerError("broker has not been started")
        return self.address

    def address_text(self) -> str:
        return self.bootstrap

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    def __repr__(self) -> str:
        state = f"pid={self.pid}" if self.is_running() else "stopped"
        return f"KafkaBroker({self.version}, port={self.port}, {state}, data_dir={self.data_dir})"

    # -- ServerProcess hooks ------------------------------------------------------

    def check_installed(self) -> None:
        """Fetch the jars if needed (Maven), so a first run needs no manual step."""
        self._libs = fetch_kafka(self.cache_dir, self.version)

    def prepare(self) -> None:
        self._write_config()
        self._format()

    def command(self) -> list[str]:
        return self._java_cmd(self.heap, "kafka.Kafka", str(self.data_dir / "server.properties"))

    def ready(self) -> bool:
        assert self.port is not None
        try:
            return bool(probe_metadata(HOST, self.port, timeout=2.0))
        except (OSError, struct.error):
            return False

    def after_ready(self, deadline: float) -> None:
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
        raise self.failure(f"kafka-python could not list topics: {last!r}")

    # -- internals ----------------------------------------------------------------

    def _write_config(self) -> None:
        assert self.port is not None and self.controller_port is not None
        templates = _templates()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        text = (templates / "server.properties.in").read_text(encoding="utf-8")
        text = (
            text.replace("@PORT@", str(self.port))
            .replace("@CONTROLLER_PORT@", str(self.controller_port))
            .replace("@LOG_DIR@", str(self.log_dir))
        )
        if self.config:
            text += "\n# KafkaBroker(config=...) overrides\n"
            text += "".join(f"{key}={value}\n" for key, value in self.config.items())
        (self.data_dir / "server.properties").write_text(text, encoding="utf-8")
        shutil.copyfile(templates / "log4j2.properties", self.data_dir / "log4j2.properties")

    def _java_cmd(self, heap: str, main: str, *args: str, jvm: tuple[str, ...] = ()) -> list[str]:
        assert self._libs is not None
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
            f"{self._libs}/*",
            main,
            *args,
        ]

    def _format(self) -> None:
        if (self.log_dir / "meta.properties").exists():
            return
        self.cluster_id = _random_cluster_id()
        cmd = self._java_cmd(
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
