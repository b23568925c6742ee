"""InfluxDB line protocol: escaping, field values, timestamps, lines, and splitting a body.

Escaping follows InfluxDB 1.x's scanner (``models/points.go``): commas and spaces in
measurements; commas, equals signs and spaces in keys and tag values; backslashes and
double quotes in string fields. What the line protocol cannot carry faithfully (NaN, a
naive or out-of-range timestamp, a backslash before a separator, a line break in a name)
raises :class:`LineProtocolError` instead of writing something else.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache

__all__ = [
    "FieldValue",
    "LineProtocolError",
    "encode_line",
    "escape_key",
    "escape_measurement",
    "escape_string",
    "field_key",
    "format_field_value",
    "from_ns",
    "rfc3339_ns",
    "series_key",
    "split_lines",
    "to_ns",
]

FieldValue = float | int | bool | str


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
    linewatch.connectors.influxdb.lineprotocol.LineProtocolError: measurement '#comment' starts with '#' (a comment line)
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
    linewatch.connectors.influxdb.lineprotocol.LineProtocolError: tag 'ends\\' has a backslash before ',', '=', ...
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
    linewatch.connectors.influxdb.lineprotocol.LineProtocolError: InfluxDB cannot store nan
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


def rfc3339_ns(ns: int) -> str:
    """RFC 3339 text of a nanosecond timestamp, all nine digits kept.

    >>> rfc3339_ns(1793599200146136001)
    '2026-11-02T06:00:00.146136001Z'
    """
    return from_ns(ns).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ns % 1_000_000_000:09d}Z"


@lru_cache(maxsize=65_536)
def series_key(measurement: str, tags: tuple[tuple[str, str | None], ...]) -> str:
    """The escaped measurement and sorted tags of a point (empty and None tags left out)."""
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
        parts.append(f"{field_key(key)}={format_field_value(value)}")
    if not parts:
        raise LineProtocolError("a point needs at least one field")
    return ",".join(parts)


@lru_cache(maxsize=1024)
def field_key(key: str) -> str:
    """An escaped field key (cached: keys repeat)."""
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
    series = series_key(measurement, tuple(tags.items()))
    return f"{series} {_fieldset(fields.items())} {ts_ns}"


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
