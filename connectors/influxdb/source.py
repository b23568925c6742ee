"""Replay: raw records of a time range read back from InfluxDB with InfluxQL on ``/query``
(1.x, and the v1 compatibility API of 1.8+/2.x), in time order and in pages."""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import msgspec

from linewatch.connectors.influxdb.lineprotocol import from_ns, rfc3339_ns, to_ns
from linewatch.connectors.influxdb.schema import RAW_MEASUREMENTS
from linewatch.connectors.influxdb.transport import (
    httpx_module,
    server_message,
    transport_message,
)
from linewatch.connectors.influxdb.url import Api, InfluxSettings, parse_influx_url
from linewatch.pipeline.models import RawRecord, WireRecord

__all__ = ["InfluxSource", "InfluxSourceError"]


class InfluxSourceError(RuntimeError):
    """The replay source could not reach or query InfluxDB."""


def _quote_ident(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _row_record(measurement: str, ns: int, row: dict[str, Any]) -> RawRecord:
    cells = {key: value for key, value in row.items() if value is not None}
    if measurement == "inspection":
        codes = cells.get("defect_codes")
        cells["defect_codes"] = codes.split("|") if isinstance(codes, str) and codes else []
    cells["kind"] = RAW_MEASUREMENTS[measurement]
    cells["ts"] = from_ns(ns)
    stamp = rfc3339_ns(ns)
    payload: WireRecord | dict[str, Any]
    try:
        payload = msgspec.convert(cells, WireRecord, strict=False)
    except (msgspec.ValidationError, ValueError, TypeError):
        # decode() turns this into a dead letter that names the field and this origin.
        payload = {**cells, "ts": stamp}
    return RawRecord(
        payload=payload, origin=f"influx:{measurement}@{stamp}", position=(measurement, ns)
    )


class InfluxSource:
    """Raw records of ``[start, stop)`` read back from InfluxDB in time order, in pages.

    Each measurement is paged by time with ``LIMIT page_size``; rows sharing the last
    timestamp of a full page are left for the next page (which starts at that timestamp),
    and a timestamp holding a whole page is read on its own, so nothing is skipped or
    repeated. The measurements are merged by time; equal timestamps come in
    ``measurements`` order. ``start_after`` skips that many records (a resume).

    Queries are InfluxQL on ``/query`` whatever ``api`` says (it is accepted so that one
    ``influx://`` URL serves the sink and the source): ``username``/``password`` go as
    ``u``/``p`` parameters, else a ``token`` as ``Authorization: Token``. Payloads are built
    wire records; a row that does not validate is handed over as a dict, which the
    pipeline's decoder turns into a dead letter naming the field and the row's origin.
    """

    def __init__(
        self,
        url: str,
        database: str,
        start: datetime,
        stop: datetime,
        *,
        retention_policy: str | None = None,
        api: Api = "v2",
        token: str | None = None,
        org: str = "-",
        username: str | None = None,
        password: str | None = None,
        measurements: Sequence[str] = tuple(RAW_MEASUREMENTS),
        page_size: int = 5000,
        batch_size: int = 1000,
        start_after: int = 0,
        timeout_s: float = 30.0,
        verify_ssl: bool = True,
        resume: Mapping[str, Any] | None = None,
    ) -> None:
        if resume is not None:  # what snapshot() gave: the records already handed out
            start_after = int(resume.get("records", 0))
        unknown = [m for m in measurements if m not in RAW_MEASUREMENTS]
        if unknown:
            raise ValueError(f"cannot replay {unknown}: only {list(RAW_MEASUREMENTS)}")
        if page_size < 1 or batch_size < 1:
            raise ValueError("page_size and batch_size must be >= 1")
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
        self.start, self.stop = start, stop
        self.start_ns, self.stop_ns = to_ns(start), to_ns(stop)
        if self.stop_ns <= self.start_ns:
            raise ValueError(f"stop {stop.isoformat()} is not after start {start.isoformat()}")
        self.page_size = page_size
        self.batch_size = batch_size
        self.start_after = start_after
        self.queries = 0
        httpx = httpx_module()
        self._errors: tuple[type[BaseException], ...] = (httpx.HTTPError, OSError)
        self._params: dict[str, str] = {"db": database, "epoch": "ns"}
        headers: dict[str, str] = {}
        if username is not None:
            self._params.update(u=username, p=password or "")
        elif token:
            headers["Authorization"] = f"Token {token}"
        self._client = httpx.Client(
            base_url=self.settings.url, headers=headers, timeout=timeout_s, verify=verify_ssl
        )
        try:
            present = self._check()
        except BaseException:
            self._client.close()
            raise
        self.measurements = [m for m in measurements if m in present]
        self._records: Iterator[RawRecord] = heapq.merge(
            *(self._pages(m) for m in self.measurements),
            key=lambda r: r.position[1],
        )
        self._consumed = 0
        self._committed = 0
        self._total: int | None = None
        self._exhausted = False

    @classmethod
    def from_url(cls, url: str, start: datetime, stop: datetime, **options: Any) -> InfluxSource:
        """A source for ``influx://...`` (see :func:`parse_influx_url`)."""
        s = parse_influx_url(url)
        return cls(s.url, s.database, start, stop, **{**s.kwargs(), **options})

    def __repr__(self) -> str:
        return (
            f"InfluxSource({self.settings.url} database {self.settings.database!r}, "
            f"{self.start.isoformat()}..{self.stop.isoformat()})"
        )

    # -- Source protocol -----------------------------------------------------------------

    def poll(self, timeout: float) -> list[RawRecord]:
        batch: list[RawRecord] = []
        if self._exhausted:
            return batch
        for record in self._records:
            self._consumed += 1
            if self._consumed <= self.start_after:
                continue
            batch.append(record)
            if len(batch) >= self.batch_size:
                break
        else:
            self._exhausted = True
        return batch

    def commit(self) -> None:
        self._committed = self._consumed

    @property
    def exhausted(self) -> bool:
        return self._exhausted

    def snapshot(self) -> dict[str, Any]:
        return {
            "url": self.settings.url,
            "database": self.settings.database,
            "start": self.start.isoformat(),
            "stop": self.stop.isoformat(),
            "records": self._consumed,
        }

    def progress(self) -> tuple[int, int]:
        """Records read so far and the number in the range (counted once, on first call)."""
        if self._total is None:
            self._total = sum(self._count(m) for m in self.measurements)
        return self._consumed, self._total

    def close(self) -> None:
        self._client.close()

    # -- queries -------------------------------------------------------------------------

    def _query(self, q: str) -> list[dict[str, Any]]:
        s = self.settings
        self.queries += 1
        try:
            response = self._client.post("/query", params=self._params, data={"q": q})
        except self._errors as exc:
            raise InfluxSourceError(
                f"InfluxDB at {s.url} does not answer: {transport_message(exc)}"
            ) from None
        message = server_message(response.content)
        if response.status_code == 401:
            raise InfluxSourceError(f"InfluxDB at {s.url}: authorization failed ({message})")
        if response.status_code >= 300:
            raise InfluxSourceError(
                f"InfluxDB at {s.url} database {s.database!r}: HTTP {response.status_code}: "
                f"{message} (query: {q})"
            )
        results: list[dict[str, Any]] = response.json().get("results", [])
        for result in results:
            if "error" in result:
                raise InfluxSourceError(
                    f"InfluxDB at {s.url} database {s.database!r}: {result['error']} (query: {q})"
                )
        return results

    def _check(self) -> set[str]:
        try:
            status = self._client.get("/ping").status_code
        except self._errors as exc:
            raise InfluxSourceError(
                f"InfluxDB at {self.settings.url} does not answer /ping: {transport_message(exc)}"
            ) from None
        if status >= 300:
            raise InfluxSourceError(f"InfluxDB at {self.settings.url}: /ping gave HTTP {status}")
        s = self.settings
        # SHOW MEASUREMENTS on a missing database is just empty; this one says so.
        policies = {
            str(values[0])
            for result in self._query(f"SHOW RETENTION POLICIES ON {_quote_ident(s.database)}")
            for series in result.get("series", [])
            for values in series["values"]
        }
        if s.retention_policy and s.retention_policy not in policies:
            raise InfluxSourceError(
                f"InfluxDB at {s.url} database {s.database!r}: retention policy not found: "
                f"{s.retention_policy!r} (there are {sorted(policies)})"
            )
        present: set[str] = set()
        for result in self._query("SHOW MEASUREMENTS"):
            for series in result.get("series", []):
                present.update(str(values[0]) for values in series["values"])
        return present

    def _from(self, measurement: str) -> str:
        rp = self.settings.retention_policy
        name = _quote_ident(measurement)
        if rp:
            return f"{_quote_ident(self.settings.database)}.{_quote_ident(rp)}.{name}"
        return name

    def _select(
        self, measurement: str, where: str, limit: int | None
    ) -> list[tuple[int, dict[str, Any]]]:
        q = f"SELECT * FROM {self._from(measurement)} WHERE {where} ORDER BY time ASC"
        if limit is not None:
            q += f" LIMIT {limit}"
        rows: list[tuple[int, dict[str, Any]]] = []
        for result in self._query(q):
            for series in result.get("series", []):
                columns = series["columns"]
                for values in series["values"]:
                    row = dict(zip(columns, values, strict=True))
                    rows.append((int(row.pop("time")), row))
        return rows

    def _pages(self, measurement: str) -> Iterator[RawRecord]:
        cursor, stop = self.start_ns, self.stop_ns
        while cursor < stop:
            rows = self._select(measurement, f"time >= {cursor} AND time < {stop}", self.page_size)
            if len(rows) < self.page_size:
                yield from (_row_record(measurement, ns, row) for ns, row in rows)
                return
            last = rows[-1][0]
            complete = [(ns, row) for ns, row in rows if ns < last]
            if complete:  # the rows at `last` may go on past the page: read them next time
                yield from (_row_record(measurement, ns, row) for ns, row in complete)
                cursor = last
            else:  # one timestamp fills the page: read that instant whole
                instant = self._select(measurement, f"time = {last}", None)
                yield from (_row_record(measurement, ns, row) for ns, row in instant)
                cursor = last + 1

    def _count(self, measurement: str) -> int:
        where = f"time >= {self.start_ns} AND time < {self.stop_ns}"
        best = 0
        for result in self._query(f"SELECT COUNT(*) FROM {self._from(measurement)} WHERE {where}"):
            for series in result.get("series", []):
                for values in series["values"]:
                    best = max([best, *(int(v) for v in values[1:] if isinstance(v, int))])
        return best
