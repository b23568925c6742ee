"""InfluxDB: a durable sink for points, alerts, KPIs and raw records, and a replay source.

The schema is :data:`linewatch.pipeline.models.STORAGE_SCHEMA` (measurement -> tags, fields; tags are
low-cardinality, IDs are fields); :func:`schema_markdown` renders it for the README. Items
go to ``spc_point`` (ChartPoint), ``spc_alert`` (Alert), ``kpi`` (Kpi), ``process_param``
(Parameter), ``measurement``, ``inspection`` and ``attribute`` (the wire records of those
kinds); ``model_score`` waits for its output type. Timestamps are the item's event time in
ns. Lists (``violations``, ``defect_codes``) are joined with ``|``; ``starts_at`` and
``ends_at`` are RFC 3339 strings; ``None`` tags and fields and non-finite floats are left
out (InfluxDB has no null or NaN). A point's identity is its series (measurement + tags)
and its timestamp, so writing the same item twice overwrites it: an at-least-once
redelivery does not duplicate anything.

:class:`InfluxSink` writes line protocol, gzip-compressed, in batches, through the v1
``/write`` API (``api="v1"``, plain HTTP) or the v2 API (``api="v2"``, influxdb-client;
InfluxDB 2.x/3.x and the ``/api/v2/write`` compatibility endpoint of 1.8+, bucket
``db/rp``). Writes are synchronous and never dropped: a failed write is retried with backoff;
while the server stays away, batches are spooled to a bounded directory of fsynced files and
replayed in order when it is back; a full spool makes :meth:`InfluxSink.flush` raise
:class:`~linewatch.pipeline.models.BackpressureError`. Lines the server refuses as bad data (HTTP 400)
are isolated by bisection and kept, with the server's message, in ``rejected.jsonl``.

:class:`InfluxSource` reads a time range of raw records back, in time order and in pages,
with InfluxQL on ``/query`` (1.x, and the v1 compatibility API of 1.8+/2.x).
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import heapq
import itertools
import json
import logging
import math
import os
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

import msgspec

from linewatch.pipeline.models import (
    STORAGE_SCHEMA,
    Alert,
    Attribute,
    BackpressureError,
    ChartPoint,
    Inspection,
    Kpi,
    Measurement,
    Output,
    Parameter,
    RawRecord,
    SinkError,
    WireRecord,
)

__all__ = [
    "MEASUREMENT_OF",
    "RAW_MEASUREMENTS",
    "InfluxSettings",
    "InfluxSink",
    "InfluxSource",
    "InfluxSourceError",
    "LineProtocolError",
    "encode_line",
    "escape_key",
    "escape_measurement",
    "escape_string",
    "format_field_value",
    "from_ns",
    "item_line",
    "parse_influx_url",
    "schema_markdown",
    "split_lines",
    "to_ns",
]

log = logging.getLogger(__name__)

Api = Literal["v1", "v2"]
FieldValue = float | int | bool | str

#: Raw-record measurements and the wire ``kind`` each holds (what replay reads back).
RAW_MEASUREMENTS: dict[str, str] = {
    "process_param": "parameter",
    "measurement": "measurement",
    "inspection": "inspection",
    "attribute": "attribute",
}

_INSTALL_HINT = "pip install 'linewatch[influx]'"


def _influxdb_client() -> Any:
    try:
        import influxdb_client
    except ImportError as exc:
        raise ImportError(f"InfluxDB's v2 API needs influxdb-client: {_INSTALL_HINT}") from exc
    return influxdb_client


def _httpx() -> Any:
    try:
        import httpx
    except ImportError as exc:
        raise ImportError(f"InfluxDB's v1 API and replay need httpx: {_INSTALL_HINT}") from exc
    return httpx


# -- line protocol -------------------------------------------------------------------------


class LineProtocolError(ValueError):
    """A value that InfluxDB's line protocol cannot carry faithfully."""


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_INT64 = (-(2**63), 2**63 - 1)
_MEASUREMENT_ESCAPES = str.maketrans({",": "\\,", " ": "\\ "})
_KEY_ESCAPES = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ "})
# A backslash before a separator (or at the end) would escape our escape: InfluxDB keeps
# other backslashes literally and has no way to write these.
_BAD_BACKSLASH = re.compile(r"\\(?=[, =]|$)")


def _check_name(what: str, text: str) -> None:
    if not text:
        raise LineProtocolError(f"{what} is empty")
    if "\n" in text or "\r" in text:
        raise LineProtocolError(f"{what} {text!r} contains a line break")
    if "\\" in text and _BAD_BACKSLASH.search(text):
        raise LineProtocolError(
            f"{what} {text!r} has a backslash before ',', '=', ' ' or at its end"
        )


def escape_measurement(name: str) -> str:
    r"""A measurement name for line protocol: commas and spaces escaped.

    >>> print(escape_measurement("spc point,v2"))
    spc\ point\,v2
    >>> escape_measurement("#comment")
    Traceback (most recent call last):
    ...
    linewatch.connectors.influxdb.LineProtocolError: measurement '#comment' starts with '#' (a comment line)
    """
    _check_name("measurement", name)
    if name.startswith("#"):
        raise LineProtocolError(f"measurement {name!r} starts with '#' (a comment line)")
    return name.translate(_MEASUREMENT_ESCAPES)


def escape_key(text: str, what: str = "tag") -> str:
    r"""A tag key, tag value or field key: commas, equals signs and spaces escaped.

    Quotes and other backslashes stay literal (InfluxDB reads them so).

    >>> print(escape_key('a b,c=d"e\\f'))
    a\ b\,c\=d"e\f
    >>> escape_key("ends\\")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    linewatch.connectors.influxdb.LineProtocolError: tag 'ends\\' has a backslash before ',', '=', ...
    """
    _check_name(what, text)
    return text.translate(_KEY_ESCAPES)


def escape_string(value: str) -> str:
    r"""A string field value, quoted: backslashes and double quotes escaped.

    Line breaks are allowed inside the quotes.

    >>> print(escape_string('say "hi" \\ bye'))
    "say \"hi\" \\ bye"
    """
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_field_value(value: FieldValue) -> str:
    """A field value: floats as the shortest exact decimal, ints with ``i``, booleans.

    >>> [format_field_value(v) for v in (5.0, 1e-05, 42, True, "x")]
    ['5.0', '1e-05', '42i', 'true', '"x"']
    >>> format_field_value(float("nan"))
    Traceback (most recent call last):
    ...
    linewatch.connectors.influxdb.LineProtocolError: InfluxDB cannot store nan
    """
    if isinstance(value, bool):  # before int: bool is an int
        return "true" if value else "false"
    if isinstance(value, int):
        if not _INT64[0] <= value <= _INT64[1]:
            raise LineProtocolError(f"integer {value} does not fit in 64 bits")
        return f"{value}i"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise LineProtocolError(f"InfluxDB cannot store {value}")
        return repr(value)
    if isinstance(value, str):
        return escape_string(value)
    raise LineProtocolError(f"unsupported field value type {type(value).__name__}")


def to_ns(ts: datetime) -> int:
    """Nanoseconds since the epoch, exactly, for an aware datetime.

    >>> to_ns(datetime(2026, 11, 2, 6, 0, 0, 146136, tzinfo=UTC))
    1793599200146136000
    """
    try:
        ns: int = (ts - _EPOCH) // _ONE_US * 1_000
    except TypeError:  # naive minus aware
        raise LineProtocolError(f"timestamp {ts.isoformat()} has no time zone") from None
    if not _INT64[0] <= ns <= _INT64[1]:
        raise LineProtocolError(f"timestamp {ts.isoformat()} is out of InfluxDB's range")
    return ns


def from_ns(ns: int) -> datetime:
    """The UTC datetime of a nanosecond timestamp (to the microsecond, rounded down).

    >>> from_ns(1793599200146136000).isoformat()
    '2026-11-02T06:00:00.146136+00:00'
    """
    return _EPOCH + timedelta(microseconds=ns // 1_000)


def _rfc3339_ns(ns: int) -> str:
    return from_ns(ns).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ns % 1_000_000_000:09d}Z"


@lru_cache(maxsize=65_536)
def _series(measurement: str, tags: tuple[tuple[str, str | None], ...]) -> str:
    # Tags are few and repeat: caching the escaped series key is most of the encoding speed.
    parts = [escape_measurement(measurement)]
    for key, value in sorted(tags):
        if value is not None and value != "":  # an empty tag is an absent tag in InfluxDB
            parts.append(f",{escape_key(key)}={escape_key(value, 'tag value')}")
    return "".join(parts)


def _fieldset(fields: Iterable[tuple[str, FieldValue | None]]) -> str:
    parts = []
    for key, value in fields:
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            continue
        parts.append(f"{_field_key(key)}={format_field_value(value)}")
    if not parts:
        raise LineProtocolError("a point needs at least one field")
    return ",".join(parts)


@lru_cache(maxsize=1024)
def _field_key(key: str) -> str:
    return escape_key(key, "field key")


def encode_line(
    measurement: str,
    tags: Mapping[str, str | None],
    fields: Mapping[str, FieldValue | None],
    ts_ns: int,
) -> str:
    r"""One line of line protocol. Tags sorted by key; empty tags, None and NaN left out.

    >>> encode_line("spc_point", {"station": "weld 2", "line": "L3"},
    ...             {"value": 5.42, "zone": "A", "limits_version": 3, "cl": None}, 1)
    'spc_point,line=L3,station=weld\\ 2 value=5.42,zone="A",limits_version=3i 1'
    """
    if isinstance(ts_ns, bool) or not isinstance(ts_ns, int):
        raise LineProtocolError(f"timestamp {ts_ns!r} is not an integer")
    series = _series(measurement, tuple(tags.items()))
    return f"{series} {_fieldset(fields.items())} {ts_ns}"


# Field formatters by InfluxDB type, whatever Python type the item holds at run time: a
# field's type is fixed per shard, so a float once written as `5i` would be refused later.
# Each gives the field's text, or None to leave the field out.


def _float_text(value: float | None) -> str | None:
    if value is None:
        return None
    number = float(value)
    return repr(number) if number - number == 0.0 else None  # NaN and inf: left out


def _int_text(value: int | None) -> str | None:
    return None if value is None else format_field_value(int(value))


def _str_text(value: str | None) -> str | None:
    if value is None:
        return None
    if '"' in value or "\\" in value:
        return escape_string(value)
    return f'"{value}"'


def _bool_text(value: bool) -> str:
    return "true" if value else "false"


def _joined_text(values: Sequence[str]) -> str:
    return escape_string("|".join(values))


def _any_text(value: FieldValue | None) -> str | None:
    # A field the table below does not know yet: typed by its Python value.
    return None if value is None else format_field_value(value)


def _time_text(ts: datetime | None) -> str | None:
    return None if ts is None else f'"{ts.isoformat()}"'


_FORMAT: dict[str, Callable[[Any], str | None]] = {
    **dict.fromkeys(
        (
            "value",
            "cl",
            "ucl",
            "lcl",
            "window_s",
            "lower",
            "upper",
            "score",
            "threshold",
            "predicted_defect_p",
        ),
        _float_text,
    ),
    **dict.fromkeys(
        ("limits_version", "occurrences", "defects", "inspected", "nonconforming", "window_n"),
        _int_text,
    ),
    **dict.fromkeys(
        ("zone", "message", "fingerprint", "alert_id", "part_id", "subgroup", "product"),
        _str_text,
    ),
    "violations": _joined_text,
    "defect_codes": _joined_text,
    "starts_at": _time_text,
    "ends_at": _time_text,
    "rework": _bool_text,
}

#: The measurement each item type is written to. model_score joins once pipeline.models
#: has a ModelScore output (its tags and fields are in STORAGE_SCHEMA already).
MEASUREMENT_OF: dict[type[msgspec.Struct], str] = {
    ChartPoint: "spc_point",
    Alert: "spc_alert",
    Kpi: "kpi",
    Parameter: "process_param",
    Measurement: "measurement",
    Inspection: "inspection",
    Attribute: "attribute",
}

_Spec = tuple[str, tuple[str, ...], tuple[tuple[str, str, Callable[[Any], str | None]], ...]]


def _spec(kind: type[msgspec.Struct], measurement: str) -> _Spec:
    tags, fields = STORAGE_SCHEMA[measurement]
    missing = [key for key in (*tags, *fields) if key not in kind.__struct_fields__]
    if missing:  # the schema and the models moved apart: fail at import, not mid-stream
        raise RuntimeError(f"{kind.__name__} has no {missing} for InfluxDB's {measurement}")
    return (
        measurement,
        tags,
        tuple((key, f"{_field_key(key)}=", _FORMAT.get(key, _any_text)) for key in fields),
    )


_SPECS: dict[type[msgspec.Struct], _Spec] = {
    kind: _spec(kind, m) for kind, m in MEASUREMENT_OF.items()
}


def schema_markdown() -> str:
    """The storage schema as a Markdown table (for the README).

    >>> print(schema_markdown().splitlines()[2])
    | `process_param` | line, station, equipment, name | value, part_id |
    """
    rows = ["| measurement | tags | fields |", "|---|---|---|"]
    for measurement, (tags, fields) in STORAGE_SCHEMA.items():
        rows.append(f"| `{measurement}` | {', '.join(tags)} | {', '.join(fields)} |")
    return "\n".join(rows)


@lru_cache(maxsize=65_536)
def _item_series(measurement: str, keys: tuple[str, ...], values: tuple[str, ...]) -> str:
    return _series(measurement, tuple(zip(keys, values, strict=True)))


def item_line(item: Output | WireRecord) -> str | None:
    """The line protocol of one sink item, by the storage schema; None for items not kept.

    Dead letters go to a dead-letter sink, not to InfluxDB.

    >>> from linewatch.pipeline.models import Kpi
    >>> item_line(Kpi(ts=from_ns(10**18), line="L3", station="final", kpi="fpy",
    ...               value=0.97, window_s=3600))
    'kpi,kpi=fpy,line=L3,station=final value=0.97,window_s=3600.0 1000000000000000000'
    """
    spec = _SPECS.get(type(item))
    if spec is None:
        return None
    measurement, tags, fields = spec
    series = _item_series(measurement, tags, tuple([getattr(item, key) for key in tags]))
    parts = []
    for key, prefix, text_of in fields:
        text = text_of(getattr(item, key))
        if text is not None:
            parts.append(prefix + text)
    if not parts:
        raise LineProtocolError(f"{measurement}: a point needs at least one field")
    return f"{series} {','.join(parts)} {to_ns(item.ts)}"


def split_lines(text: str) -> list[str]:
    r"""Split a line-protocol body into its lines; string fields may hold line breaks.

    Mirrors InfluxDB's ``scanLine``: a backslash skips the next character, and after the
    first unescaped space a double quote opens or closes a string when more ``=`` than
    ``,`` have been seen (it stands in a field value).

    >>> split_lines('m,t=a"b v="x\ny",w=1 1\nm v=2 2\n')
    ['m,t=a"b v="x\ny",w=1 1', 'm v=2 2']
    """
    lines: list[str] = []
    start, i, n = 0, 0, len(text)
    fields = quoted = False
    equals = commas = 0
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == " ":
            fields = True
        if fields and not quoted and ch == "=":
            equals += 1
        elif fields and not quoted and ch == ",":
            commas += 1
        elif fields and ch == '"' and equals > commas:
            quoted = not quoted
        elif ch == "\n" and not quoted:
            if text[start:i].strip():
                lines.append(text[start:i])
            start, fields, equals, commas = i + 1, False, 0, 0
        i += 1
    if text[start:].strip():
        lines.append(text[start:])
    return lines


# -- settings --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InfluxSettings:
    """Where and how to reach InfluxDB (from :func:`parse_influx_url`)."""

    url: str
    database: str
    retention_policy: str | None = None
    api: Api = "v2"
    token: str | None = field(default=None, repr=False)
    org: str = "-"
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def bucket(self) -> str:
        """The v2 bucket: ``db/rp`` (1.8+ compatibility) or ``db``."""
        if self.retention_policy:
            return f"{self.database}/{self.retention_policy}"
        return self.database

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :class:`InfluxSink` and :class:`InfluxSource`."""
        return {
            "retention_policy": self.retention_policy,
            "api": self.api,
            "token": self.token,
            "org": self.org,
            "username": self.username,
            "password": self.password,
        }


_URL_OPTIONS = {"rp", "api", "token", "org"}


def parse_influx_url(url: str) -> InfluxSettings:
    """``influx://[user:pass@]HOST[:PORT]/DB[?rp=..&api=v1|v2&token=..&org=..]``.

    ``influxs://`` means HTTPS. The port defaults to 8086, the API to v2. User, password
    and token are percent-decoded.

    >>> s = parse_influx_url("influx://lw:s%40cret@127.0.0.1:8086/plant?rp=raw&api=v1")
    >>> s.url, s.database, s.retention_policy, s.api, s.username, s.password
    ('http://127.0.0.1:8086', 'plant', 'raw', 'v1', 'lw', 's@cret')
    >>> parse_influx_url("influxs://db.example.com/plant?token=abc").url
    'https://db.example.com:8086'
    >>> parse_influx_url("influx://127.0.0.1:8086/")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: 'influx://127.0.0.1:8086/' names no database: use influx://[user:pass@]HOST:...
    """
    form = "influx://[user:pass@]HOST:PORT/DB[?rp=..&api=v1|v2&token=..&org=..]"
    parts = urlsplit(url)
    scheme = {"influx": "http", "influxs": "https"}.get(parts.scheme)
    if scheme is None:
        raise ValueError(f"{url!r} is not an InfluxDB URL: use {form} (influxs:// for HTTPS)")
    try:
        host, port = parts.hostname, parts.port or 8086
    except ValueError as exc:  # a port that is not a number
        raise ValueError(f"{url!r}: {exc}; use {form}") from None
    if not host:
        raise ValueError(f"{url!r} names no host: use {form}")
    database = unquote(parts.path.lstrip("/"))
    if not database:
        raise ValueError(f"{url!r} names no database: use {form}")
    if "/" in database:
        raise ValueError(f"{url!r}: the database {database!r} has a '/'; give ?rp=... instead")
    if parts.fragment:
        raise ValueError(f"{url!r} has a fragment '#{parts.fragment}': use {form}")
    query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=False)
    unknown = sorted(set(query) - _URL_OPTIONS)
    if unknown:
        raise ValueError(f"{url!r}: unknown option(s) {', '.join(unknown)}; use {form}")
    options = {key: values[-1] for key, values in query.items()}
    api = options.get("api", "v2")
    if api not in ("v1", "v2"):
        raise ValueError(f"{url!r}: api must be v1 or v2, not {api!r}")
    host_text = f"[{host}]" if ":" in host else host
    return InfluxSettings(
        url=f"{scheme}://{host_text}:{port}",
        database=database,
        retention_policy=options.get("rp") or None,
        api="v1" if api == "v1" else "v2",
        token=options.get("token") or None,
        org=options.get("org") or "-",
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


# -- writers ---------------------------------------------------------------------------------


class _WriteFailed(Exception):
    """One HTTP write that did not succeed; ``status`` None means no HTTP answer."""

    def __init__(self, status: int | None, message: str, retry_after: float | None = None):
        super().__init__(f"HTTP {status}: {message}" if status is not None else message)
        self.status = status
        self.message = message
        self.retry_after = retry_after

    @property
    def kind(self) -> Literal["transient", "config", "data"]:
        status = self.status
        if status in (401, 403, 404) or (status == 500 and "not found" in self.message):
            return "config"  # wrong token, db, bucket or retention policy
        if status is None or status >= 500 or status in (408, 429):
            return "transient"
        return "data"  # 400 partial write / unparsable, 413 too large, 422 unprocessable


def _server_message(body: bytes | str | None) -> str:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
    with contextlib.suppress(ValueError):
        data = json.loads(text)
        if isinstance(data, dict):
            message = data.get("error") or data.get("message")
            if message:
                return str(message)
    return text.strip()[:500] or "(empty response)"


def _retry_after(value: Any) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


class _V1Writer:
    """``POST /write?db=..&rp=..&precision=ns`` with httpx; u/p params or a Token header."""

    def __init__(self, s: InfluxSettings, timeout_s: float, verify_ssl: bool) -> None:
        httpx = _httpx()
        self._errors: tuple[type[BaseException], ...] = (httpx.HTTPError, OSError)
        self._params = {"db": s.database, "precision": "ns"}
        if s.retention_policy:
            self._params["rp"] = s.retention_policy
        if s.username is not None:
            self._params.update(u=s.username, p=s.password or "")  # 1.x before 1.8: no Token
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if s.token and s.username is None:
            headers["Authorization"] = f"Token {s.token}"
        self._client = httpx.Client(
            base_url=s.url, headers=headers, timeout=timeout_s, verify=verify_ssl
        )

    def ping(self) -> str | None:
        try:
            response = self._client.get("/ping")
        except self._errors as exc:
            raise _WriteFailed(None, _transport_message(exc)) from None
        if response.status_code >= 300:
            raise _WriteFailed(response.status_code, _server_message(response.content))
        version: str | None = response.headers.get("X-Influxdb-Version")
        return version

    def write(self, body: bytes, compressed: bool = True) -> None:
        headers = {"Content-Encoding": "gzip"} if compressed else {}
        try:
            response = self._client.post(
                "/write", params=self._params, content=body, headers=headers
            )
        except self._errors as exc:
            raise _WriteFailed(None, _transport_message(exc)) from None
        if response.status_code >= 300:
            raise _WriteFailed(
                response.status_code,
                _server_message(response.content),
                _retry_after(response.headers.get("Retry-After")),
            )

    def close(self) -> None:
        self._client.close()


class _V2Writer:
    """influxdb-client's WriteService, synchronous, with our own gzip (never the batching
    write_api, which only logs a failed batch)."""

    def __init__(self, s: InfluxSettings, timeout_s: float, verify_ssl: bool) -> None:
        client_module = _influxdb_client()
        from influxdb_client.rest import ApiException
        from urllib3.exceptions import HTTPError as Urllib3Error

        token = s.token
        if token is None and s.username is not None:
            token = f"{s.username}:{s.password or ''}"  # 1.8+ compatibility form
        self._client = client_module.InfluxDBClient(
            url=s.url,
            token=token,
            org=s.org,
            timeout=int(timeout_s * 1000),
            enable_gzip=False,  # we compress once, and spool the compressed body
            verify_ssl=verify_ssl,
            retries=False,  # our own retry loop decides
        )
        self._api_exception = ApiException
        self._transport: tuple[type[BaseException], ...] = (Urllib3Error, OSError)
        self._ping = client_module.PingService(self._client.api_client)
        self._write = client_module.WriteService(self._client.api_client)
        self._org = s.org
        self._bucket = s.bucket

    def _call(self, function: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return function(**kwargs)
        except self._api_exception as exc:
            headers = getattr(exc, "headers", None) or {}
            raise _WriteFailed(
                int(exc.status or 0) or None,
                _server_message(exc.body),
                _retry_after(headers.get("Retry-After")),
            ) from None
        except self._transport as exc:
            raise _WriteFailed(None, _transport_message(exc)) from None

    def ping(self) -> str | None:
        info = self._call(self._ping.get_ping_with_http_info, _return_http_data_only=False)
        headers = info[2] if isinstance(info, tuple) and len(info) > 2 else {}
        version = headers.get("X-Influxdb-Version") if headers else None
        return str(version) if version else None

    def write(self, body: bytes, compressed: bool = True) -> None:
        extra = {"content_encoding": "gzip"} if compressed else {}
        self._call(
            self._write.post_write,
            org=self._org,
            bucket=self._bucket,
            body=body,
            precision="ns",
            content_type="text/plain; charset=utf-8",
            **extra,
        )

    def close(self) -> None:
        self._client.close()


def _transport_message(exc: BaseException) -> str:
    # urllib3 nests the cause (MaxRetryError -> NewConnectionError -> ConnectionRefusedError).
    seen = exc
    while seen.__cause__ is not None or getattr(seen, "reason", None) is not None:
        nested = getattr(seen, "reason", None)
        nested = nested if isinstance(nested, BaseException) else seen.__cause__
        if nested is None or nested is seen:
            break
        seen = nested
    text = str(seen) or type(seen).__name__
    if "refused" in text.lower():
        return f"connection refused ({text})"
    return f"{type(seen).__name__}: {text}"


# -- spool -----------------------------------------------------------------------------------

_SPOOL_NAME = re.compile(r"^(\d{12})-(\d+)\.lp\.gz$")


@dataclass(frozen=True, slots=True)
class _Spooled:
    path: Path
    size: int
    lines: int


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Spool:
    """Batches the server did not take: one fsynced gzip line-protocol file each, in order.

    Each process locks a ``slot-N`` directory of its own (so workers sharing a config do not
    share files) and adopts the files of unlocked slots left by a crashed process.
    """

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        root.mkdir(parents=True, exist_ok=True)
        self._lock_fd = -1
        for number in itertools.count():
            slot = root / f"slot-{number}"
            fd = self._try_lock(slot)
            if fd is not None:
                self.dir, self._lock_fd = slot, fd
                break
        self._files: deque[_Spooled] = deque(self._scan(self.dir))
        self._seq = int(self._files[-1].path.name[:12]) + 1 if self._files else 0
        self._adopt_orphans()
        self.bytes = sum(f.size for f in self._files)

    @staticmethod
    def _try_lock(slot: Path) -> int | None:
        slot.mkdir(exist_ok=True)
        fd = os.open(slot / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None
        return fd

    @staticmethod
    def _scan(folder: Path) -> list[_Spooled]:
        found = []
        for path in folder.iterdir():
            if path.name.endswith(".tmp"):
                path.unlink(missing_ok=True)  # a write that crashed before its rename
                continue
            match = _SPOOL_NAME.match(path.name)
            if match:
                found.append(_Spooled(path, path.stat().st_size, int(match.group(2))))
        return sorted(found, key=lambda f: f.path.name)

    def _adopt_orphans(self) -> None:
        for slot in sorted(self.root.glob("slot-*")):
            if slot == self.dir or not slot.is_dir():
                continue
            fd = self._try_lock(slot)
            if fd is None:
                continue  # a live process owns it
            try:
                for orphan in self._scan(slot):
                    target = self.dir / f"{self._seq:012d}-{orphan.lines}.lp.gz"
                    self._seq += 1
                    orphan.path.replace(target)
                    self._files.append(_Spooled(target, orphan.size, orphan.lines))
                    log.warning("InfluxDB spool: adopted %s from %s", target.name, slot)
                _fsync_dir(self.dir)
            finally:
                os.close(fd)

    def __len__(self) -> int:
        return len(self._files)

    @property
    def lines(self) -> int:
        return sum(f.lines for f in self._files)

    def fits(self, size: int) -> bool:
        """Room for ``size`` more bytes (an empty spool takes one batch of any size)."""
        return not self._files or self.bytes + size <= self.max_bytes

    def put(self, body: bytes, lines: int) -> None:
        name = f"{self._seq:012d}-{lines}.lp.gz"
        tmp = self.dir / f"{name}.tmp"
        with tmp.open("wb") as out:
            out.write(body)
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(self.dir / name)
        _fsync_dir(self.dir)
        self._seq += 1
        self._files.append(_Spooled(self.dir / name, len(body), lines))
        self.bytes += len(body)

    def oldest(self) -> tuple[_Spooled, bytes]:
        spooled = self._files[0]
        return spooled, spooled.path.read_bytes()

    def remove_oldest(self) -> None:
        spooled = self._files.popleft()
        spooled.path.unlink()
        self.bytes -= spooled.size

    def close(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = -1


# -- sink ------------------------------------------------------------------------------------


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

    ``spool_dir`` (default ``.linewatch/influx-spool/<host>_<port>_<db>``) holds
    ``slot-N/NNNNNNNNNNNN-<lines>.lp.gz`` files, at most ``spool_max_bytes`` in all, and
    ``rejected.jsonl``. A transient failure is retried with backoff for up to
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
        writer_class = _V1Writer if api == "v1" else _V2Writer
        self._writer: _V1Writer | _V2Writer = writer_class(self.settings, timeout_s, verify_ssl)
        try:
            if check:
                self.check()
            root = Path(spool_dir) if spool_dir is not None else self.default_spool_dir()
            self._spool = _Spool(root, spool_max_bytes)
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
                self._spool.lines,
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
        except _WriteFailed as exc:
            raise SinkError(f"InfluxDB at {s.url} does not answer /ping: {exc}") from None
        try:
            self._writer.write(b"", compressed=False)  # zero lines: checks db, rp and auth
        except _WriteFailed as exc:
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
            if not self._spool.fits(len(body)):
                raise BackpressureError(
                    f"InfluxDB {self.target} is unavailable ({self._last_error}) and the spool "
                    f"{self._spool.dir} is full ({self._spool.bytes} of "
                    f"{self._spool.max_bytes} bytes, {len(self._spool)} batches); "
                    f"{len(self._pending)} lines held in memory",
                    retry_after=self._retry_after(),
                )
            self._spool.put(body, count)
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
        return self._spool.lines

    @property
    def spool_dir(self) -> Path:
        return self._spool.dir

    # -- internals -----------------------------------------------------------------------

    def _compress(self, lines: Sequence[str]) -> bytes:
        return gzip.compress("\n".join(lines).encode(), self.gzip_level, mtime=0)

    def _drain(self) -> None:
        was_down = self._down_since
        while len(self._spool):
            spooled, body = self._spool.oldest()
            try:
                # While down: one attempt per flush; the runner's retry_after paces us.
                self._deliver(body, None, retry=self._down_since is None, count=spooled.lines)
            except _Unavailable as exc:
                self._went_down(exc)
                return
            self._spool.remove_oldest()
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
        except _WriteFailed as exc:
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
            except _WriteFailed as exc:
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

    def _isolate(self, lines: list[str], failure: _WriteFailed) -> None:
        """Bisect a refused batch: rewrite the good lines (idempotent), reject the bad."""
        dropped = _DROPPED.search(failure.message)
        if len(lines) == 1 or (dropped is not None and int(dropped.group(1)) == len(lines)):
            self._reject_lines(lines, failure)
            return
        middle = len(lines) // 2
        for half in (lines[:middle], lines[middle:]):
            try:
                self._write_retrying(self._compress(half), retry=True)
            except _WriteFailed as exc:
                if exc.kind == "transient":
                    raise _Unavailable(str(exc)) from None
                if exc.kind == "config":
                    raise self._config_error(exc) from None
                self._isolate(half, exc)
            else:
                self.written_lines += len(half)

    def _config_error(self, exc: _WriteFailed) -> SinkError:
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

    def _reject_lines(self, lines: Sequence[str], failure: _WriteFailed) -> None:
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


# -- source ----------------------------------------------------------------------------------


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
    stamp = _rfc3339_ns(ns)
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
    ) -> None:
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
        httpx = _httpx()
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

    def position(self) -> dict[str, Any]:
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
                f"InfluxDB at {s.url} does not answer: {_transport_message(exc)}"
            ) from None
        message = _server_message(response.content)
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
                f"InfluxDB at {self.settings.url} does not answer /ping: {_transport_message(exc)}"
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
