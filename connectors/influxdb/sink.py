"""The InfluxDB sink: batches, gzip, retries with backoff, a durable spool while the server is
away, backpressure when the spool is full, and bad lines isolated into ``rejected.jsonl``."""

from __future__ import annotations

import fcntl
import gzip
import logging
import os
import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import msgspec

from linewatch.connectors.influxdb.lineprotocol import LineProtocolError, split_lines
from linewatch.connectors.influxdb.schema import item_line
from linewatch.connectors.influxdb.url import Api, InfluxSettings, parse_influx_url
from linewatch.connectors.influxdb.writers import V1Writer, V2Writer, WriteFailed, Writer
from linewatch.connectors.spool import Spool, SpoolCorrupt, SpoolEntry, SpoolFull
from linewatch.pipeline.models import (
    BackpressureError,
    Output,
    SinkError,
    WireRecord,
)

__all__ = ["InfluxSink"]

log = logging.getLogger("linewatch.connectors.influxdb")

# Batch keys are random and never resent by the pipeline: a short memory of them will do.
_REMEMBER_ACKED = 1024


# Before the shared spool, a batch was a bare gzip file named NNNNNNNNNNNN-<lines>.lp.gz.
_LEGACY_NAME = re.compile(r"^\d{12}-(\d+)\.lp\.gz$")


def _import_legacy_batches(spool: Spool) -> None:
    """Move the batches an older Linewatch spooled into ``spool``, oldest first: from its own
    slot, then from the slots no live process locks."""
    others = sorted((s for s in spool.root.glob("slot-*") if s != spool.dir), key=lambda s: s.name)
    for slot in [spool.dir, *others]:
        legacy = sorted(
            (path, int(match.group(1)))
            for path in slot.glob("*.lp.gz")
            if (match := _LEGACY_NAME.match(path.name))
        )
        if not legacy:
            continue
        fd = -1
        if slot != spool.dir:
            fd = os.open(slot / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue  # a live (older) process owns it
        try:
            for path, lines in legacy:
                try:
                    spool.append(path.read_bytes(), meta={"lines": lines})
                except SpoolFull:
                    log.warning(
                        "InfluxDB spool: %s is full; %s and later old-format batches wait "
                        "for the next start",
                        spool.dir,
                        path,
                    )
                    return
                path.unlink()
                log.warning("InfluxDB spool: took over old-format batch %s", path)
        finally:
            if fd >= 0:
                os.close(fd)


def _lines_of(entry: SpoolEntry) -> int:
    lines = entry.meta.get("lines")
    return lines if isinstance(lines, int) else 0


class _Unavailable(Exception):
    """The server did not take a batch for a reason that may pass (down, 5xx, timeout)."""


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "influx"


_DROPPED = re.compile(r"dropped=(\d+)")


class InfluxSink:
    """Writes outputs and raw records to InfluxDB; see the module docstring for the schema.

    ``add`` encodes and buffers; ``flush`` writes everything buffered in batches of
    ``batch_size`` lines, gzip-compressed, and returns only when each line is on the server,
    in the fsynced spool, or (refused as bad data) in the rejected-lines file. The
    constructor checks the server (``check=False`` skips it) and raises :class:`SinkError`
    naming the URL and what the server said.

    ``spool_dir`` (default ``.linewatch/influx-spool/<host>_<port>_<db>``) holds a
    :class:`~linewatch.connectors.spool.Spool` of ``slot-N/NNNNNNNNNNNN.lp.gz`` entries (one
    gzip batch each, its line count in the entry's metadata), at most ``spool_max_bytes`` in
    all, and ``rejected.jsonl``. A transient failure is retried with backoff for up to
    ``retry_for_s`` seconds before the batch is spooled.
    """

    def __init__(
        self,
        url: str,
        database: str,
        *,
        api: Api = "v2",
        retention_policy: str | None = None,
        token: str | None = None,
        org: str = "-",
        username: str | None = None,
        password: str | None = None,
        batch_size: int = 5000,
        gzip_level: int = 1,
        timeout_s: float = 10.0,
        retry_for_s: float = 10.0,
        max_retry_after_s: float = 5.0,
        spool_dir: str | Path | None = None,
        spool_max_bytes: int = 256 * 1024 * 1024,
        rejected_path: str | Path | None = None,
        verify_ssl: bool = True,
        check: bool = True,
    ) -> None:
        if api not in ("v1", "v2"):
            raise ValueError(f"api must be 'v1' or 'v2', not {api!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.settings = InfluxSettings(
            url=url.rstrip("/"),
            database=database,
            retention_policy=retention_policy,
            api=api,
            token=token,
            org=org,
            username=username,
            password=password,
        )
        self.batch_size = batch_size
        self.gzip_level = gzip_level
        self.timeout_s = timeout_s
        self.retry_for_s = retry_for_s
        self.max_retry_after_s = max_retry_after_s
        self.written_lines = 0
        self.rejected_lines = 0
        self.server_version: str | None = None
        self._pending: list[str] = []
        self._down_since: float | None = None
        self._failed_probes = 0
        self._last_error = ""
        self._closed = False
        writer_class = V1Writer if api == "v1" else V2Writer
        self._writer: Writer = writer_class(self.settings, timeout_s, verify_ssl)
        try:
            if check:
                self.check()
            root = Path(spool_dir) if spool_dir is not None else self.default_spool_dir()
            self._spool = Spool(
                root,
                max_bytes=spool_max_bytes,
                suffix=".lp.gz",
                label="InfluxDB spool",
                remember_acked=_REMEMBER_ACKED,
            )
            _import_legacy_batches(self._spool)
        except BaseException:
            self._writer.close()
            raise
        self.rejected_path = (
            Path(rejected_path) if rejected_path is not None else root / "rejected.jsonl"
        )
        self._rejected_file: IO[bytes] | None = None
        if len(self._spool):
            log.warning(
                "InfluxDB %s: %d spooled batch(es) (%d lines) in %s will be written first",
                self.target,
                len(self._spool),
                self.spooled_lines,
                self._spool.dir,
            )

    @classmethod
    def from_url(cls, url: str, **options: Any) -> InfluxSink:
        """A sink for ``influx://...`` (see :func:`parse_influx_url`); ``options`` override."""
        s = parse_influx_url(url)
        return cls(s.url, s.database, **{**s.kwargs(), **options})

    @property
    def target(self) -> str:
        s = self.settings
        where = f"bucket {s.bucket!r}" if s.api == "v2" else f"database {s.database!r}"
        if s.api == "v1" and s.retention_policy:
            where += f" retention policy {s.retention_policy!r}"
        return f"{s.url} {where}"

    def default_spool_dir(self) -> Path:
        s = self.settings
        host = s.url.split("://", 1)[-1]
        return Path(".linewatch") / "influx-spool" / _slug(f"{host}_{s.bucket}")

    def __repr__(self) -> str:
        return f"InfluxSink({self.target}, api={self.settings.api})"

    # -- start-up check ------------------------------------------------------------------

    def check(self) -> None:
        """Fail fast: /ping answers, the database exists and the credentials may write."""
        s = self.settings
        if s.username is not None:
            who = f"user {s.username!r}"
        else:
            who = "token" if s.token else "no credentials"
        try:
            self.server_version = self._writer.ping()
        except WriteFailed as exc:
            raise SinkError(f"InfluxDB at {s.url} does not answer /ping: {exc}") from None
        try:
            self._writer.write(b"", compressed=False)  # zero lines: checks db, rp and auth
        except WriteFailed as exc:
            if exc.kind == "data":  # auth and bucket passed; this server wants a point
                log.debug("InfluxDB %s: empty test write refused (%s)", self.target, exc)
                return
            if exc.status is None:
                raise SinkError(f"InfluxDB at {s.url} failed a test write: {exc}") from None
            if exc.status == 401:
                problem = f"authorization failed for {who}"
            elif exc.status == 403:
                problem = f"{who} is not allowed to write"
            elif "retention policy" in exc.message:
                problem = "retention policy not found"
            elif exc.kind == "config":
                problem = "database not found"
            else:
                problem = "test write refused"
            said = f"the server said HTTP {exc.status}: {exc.message}"
            raise SinkError(f"InfluxDB {self.target}: {problem} ({said})") from None
        log.info("InfluxDB %s ready (version %s)", self.target, self.server_version or "?")

    # -- Sink protocol -------------------------------------------------------------------

    def add(self, item: Output | WireRecord) -> None:
        try:
            line = item_line(item)
        except LineProtocolError as exc:
            self._reject_item(item, str(exc))
            return
        if line is not None:
            self._pending.append(line)

    def flush(self) -> None:
        """Write what was added; raise BackpressureError if it can be neither written nor
        spooled (the items stay buffered; call again after ``retry_after``)."""
        self._sync_rejected()
        if len(self._spool):
            self._drain()
        while self._pending:
            count = min(len(self._pending), self.batch_size)
            lines = self._pending[:count]
            body = self._compress(lines)
            if not len(self._spool) and self._down_since is None:
                try:
                    self._deliver(body, lines, retry=True, count=count)
                except _Unavailable as exc:
                    self._went_down(exc)
                else:
                    del self._pending[:count]
                    continue
            try:
                self._spool.append(body, meta={"lines": count})
            except SpoolFull:
                raise BackpressureError(
                    f"InfluxDB {self.target} is unavailable ({self._last_error}) and the spool "
                    f"{self._spool.dir} is full ({self._spool.bytes} of "
                    f"{self._spool.max_bytes} bytes, {len(self._spool)} batches); "
                    f"{len(self._pending)} lines held in memory",
                    retry_after=self._retry_after(),
                ) from None
            del self._pending[:count]
        self._sync_rejected()

    def close(self) -> None:
        """Flush, then release the connection and the spool lock."""
        if self._closed:
            return
        try:
            self.flush()
        finally:
            self._closed = True
            self._writer.close()
            self._spool.close()
            if self._rejected_file is not None:
                self._rejected_file.close()

    # -- state, for callers and tests ----------------------------------------------------

    @property
    def pending_lines(self) -> int:
        """Lines added and not yet written, spooled or rejected."""
        return len(self._pending)

    @property
    def spooled_batches(self) -> int:
        return len(self._spool)

    @property
    def spooled_lines(self) -> int:
        return sum(_lines_of(entry) for entry in self._spool)

    @property
    def spool_dir(self) -> Path:
        return self._spool.dir

    # -- internals -----------------------------------------------------------------------

    def _compress(self, lines: Sequence[str]) -> bytes:
        return gzip.compress("\n".join(lines).encode(), self.gzip_level, mtime=0)

    def _drain(self) -> None:
        was_down = self._down_since
        while (spooled := self._spool.first()) is not None:
            try:
                body = self._spool.read(spooled)
            except SpoolCorrupt as exc:  # set aside in corrupt/ by the spool, not lost
                log.error("InfluxDB %s: a spooled batch is damaged: %s", self.target, exc)
                continue
            try:
                # While down: one attempt per flush; the runner's retry_after paces us.
                self._deliver(body, None, retry=self._down_since is None, count=_lines_of(spooled))
            except _Unavailable as exc:
                self._went_down(exc)
                return
            self._spool.ack(spooled)
            if self._down_since is not None:
                self._down_since, self._failed_probes = None, 0
        if was_down is not None:
            log.warning(
                "InfluxDB %s is back after %.1f s; spool replayed",
                self.target,
                time.monotonic() - was_down,
            )

    def _deliver(self, body: bytes, lines: list[str] | None, *, retry: bool, count: int) -> None:
        try:
            self._write_retrying(body, retry)
        except WriteFailed as exc:
            if exc.kind == "transient":
                raise _Unavailable(str(exc)) from None
            if exc.kind == "config":
                raise self._config_error(exc) from None
            if lines is None:
                lines = split_lines(gzip.decompress(body).decode())
            self._isolate(lines, exc)
            return
        self.written_lines += count

    def _write_retrying(self, body: bytes, retry: bool) -> None:
        deadline = time.monotonic() + self.retry_for_s
        delay = 0.1
        while True:
            try:
                self._writer.write(body)
                return
            except WriteFailed as exc:
                if exc.kind != "transient" or not retry:
                    raise
                wait = min(exc.retry_after or delay, self.max_retry_after_s)
                if time.monotonic() + wait > deadline:
                    raise
                log.info(
                    "InfluxDB %s: write failed (%s); retrying in %.2f s", self.target, exc, wait
                )
                time.sleep(wait)
                delay = min(delay * 2, 2.0)

    def _isolate(self, lines: list[str], failure: WriteFailed) -> None:
        """Bisect a refused batch: rewrite the good lines (idempotent), reject the bad."""
        dropped = _DROPPED.search(failure.message)
        if len(lines) == 1 or (dropped is not None and int(dropped.group(1)) == len(lines)):
            self._reject_lines(lines, failure)
            return
        middle = len(lines) // 2
        for half in (lines[:middle], lines[middle:]):
            try:
                self._write_retrying(self._compress(half), retry=True)
            except WriteFailed as exc:
                if exc.kind == "transient":
                    raise _Unavailable(str(exc)) from None
                if exc.kind == "config":
                    raise self._config_error(exc) from None
                self._isolate(half, exc)
            else:
                self.written_lines += len(half)

    def _config_error(self, exc: WriteFailed) -> SinkError:
        # The batch stays buffered (or spooled); the source is not committed.
        return SinkError(
            f"InfluxDB {self.target} refused a write: HTTP {exc.status}: {exc.message} "
            "(check the token, database and retention policy)"
        )

    def _went_down(self, exc: _Unavailable) -> None:
        self._last_error = str(exc)
        self._failed_probes += 1
        if self._down_since is None:
            self._down_since = time.monotonic()
            log.warning(
                "InfluxDB %s is unavailable (%s); spooling to %s",
                self.target,
                exc,
                self._spool.dir,
            )

    def _retry_after(self) -> float:
        return min(self.max_retry_after_s, 0.25 * (1 << min(self._failed_probes, 8)))

    def _rejected(self) -> IO[bytes]:
        if self._rejected_file is None:
            self.rejected_path.parent.mkdir(parents=True, exist_ok=True)
            self._rejected_file = self.rejected_path.open("ab")
        return self._rejected_file

    def _reject_lines(self, lines: Sequence[str], failure: WriteFailed) -> None:
        out = self._rejected()
        at = datetime.now(UTC).isoformat()
        for line in lines:
            out.write(
                msgspec.json.encode(
                    {
                        "at": at,
                        "target": self.target,
                        "status": failure.status,
                        "error": failure.message,
                        "line": line,
                    }
                )
                + b"\n"
            )
        self.rejected_lines += len(lines)
        log.error(
            "InfluxDB %s refused %d line(s) as bad data (HTTP %s: %s); kept in %s",
            self.target,
            len(lines),
            failure.status,
            failure.message,
            self.rejected_path,
        )

    def _reject_item(self, item: Any, reason: str) -> None:
        out = self._rejected()
        try:
            text = msgspec.json.encode(item).decode()
        except (TypeError, msgspec.EncodeError):
            text = repr(item)
        record = {
            "at": datetime.now(UTC).isoformat(),
            "target": self.target,
            "status": None,
            "error": reason,
            "item": text,
        }
        out.write(msgspec.json.encode(record) + b"\n")
        self.rejected_lines += 1
        log.error(
            "InfluxDB %s: cannot encode an item (%s); kept in %s",
            self.target,
            reason,
            self.rejected_path,
        )

    def _sync_rejected(self) -> None:
        if self._rejected_file is not None:
            self._rejected_file.flush()
            os.fsync(self._rejected_file.fileno())
