"""Real InfluxDB-compatible servers on 127.0.0.1 for tests.

Standard library only: importing this module starts nothing. Three kinds, all
installed by ``bash scripts/influxdb.sh install`` (apt needs root):

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

``data_dir`` holds ``influxdb.conf`` (influx kinds), ``server.log`` (read it when a
test fails), ``server.pid``, ``url`` and the server's data, the layout
``scripts/influxdb.sh start KIND DIR`` writes, so ``scripts/influxdb.sh
status|stop KIND DIR`` work on either. The influx kinds read their config
template from ``scripts/influxdb/influxdb.conf.in`` of the Linewatch checkout (an
editable install). :meth:`~InfluxServer.available` tells whether a binary is
installed; tests never skip for want of one (`make test` installs them first).

Run as a module it starts one server in the foreground until Ctrl-C::

    python3 -m linewatch.connectors.testing.influxdb influx11 --data-dir /tmp/i11
"""

from __future__ import annotations

import argparse
import contextlib
import gzip as gzip_module
import json
import os
import sys
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from linewatch.connectors.testing.servers import (
    HOST,
    HttpServerProcess,
    ServerError,
    free_port,
    source_tree,
    user_cache_dir,
)

__all__ = [
    "Influx1Server",
    "Influx11Server",
    "InfluxServer",
    "InfluxServerError",
    "VictoriaMetricsServer",
    "default_cache_dir",
    "free_port",
]

CONFIG_TEMPLATE = "scripts/influxdb/influxdb.conf.in"
CONFIG_FILE = "influxdb.conf"
INFLUX11_VERSION = os.environ.get("INFLUXDB11_VERSION", "1.11.8")


class InfluxServerError(ServerError):
    """A server binary is missing, or the server could not start or stop."""


def default_cache_dir() -> Path:
    """``$INFLUXDB_CACHE_DIR``, else ``${XDG_CACHE_HOME:-~/.cache}/linewatch/influxdb``."""
    env = os.environ.get("INFLUXDB_CACHE_DIR")
    return Path(env) if env else user_cache_dir("influxdb")


class InfluxServer(HttpServerProcess):
    """Base: one InfluxDB-compatible server; ready when ``/ping`` answers 204."""

    install_hint = "bash scripts/influxdb.sh install"
    ready_path = "/ping"
    ready_status = 204
    error = InfluxServerError

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
    other_ports: ClassVar[tuple[str, ...]] = ("rpc_port",)

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
        self.rpc_port: int | None = rpc_port
        super().__init__(
            data_dir,
            port=port,
            binary=binary,
            startup_timeout=startup_timeout,
            stop_timeout=stop_timeout,
            die_with_parent=die_with_parent,
        )
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

    def prepare(self) -> None:
        values = {
            "@DIR@": str(self.data_dir),
            "@HTTP_PORT@": str(self.port),
            "@RPC_PORT@": str(self.rpc_port),
            "@AUTH_ENABLED@": "true" if self.auth else "false",
            "@FLUX_ENABLED@": "true" if self.flux_enabled else "false",
        }
        try:
            template = source_tree(CONFIG_TEMPLATE) / CONFIG_TEMPLATE
        except ServerError as exc:
            raise InfluxServerError(str(exc)) from None
        text = template.read_text(encoding="utf-8")
        for key, value in values.items():
            text = text.replace(key, value)
        self.config_path.write_text(text, encoding="utf-8")

    def command(self) -> list[str]:
        return [str(self.binary), "run", "-config", str(self.config_path)]

    def after_ready(self, deadline: float) -> None:
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

    def command(self) -> list[str]:
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
