"""Line protocol encoding, the URL parser and the spool, without a server.

A reference parser written here after InfluxDB 1.x's scanner (``models/points.go``: a
backslash escapes the next byte while scanning; ``\\,``, ``\\=`` and ``\\ `` are unescaped
in keys and tag values, ``\\\\`` and ``\\"`` in string fields) reads back what the encoder
writes; hypothesis checks the round trip. The integration tests do the same against the
real servers with a fixed set of awkward names.
"""

from __future__ import annotations

import gzip
import math
import socket
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from linewatch.connectors.influxdb import (
    InfluxSink,
    LineProtocolError,
    encode_line,
    escape_key,
    escape_measurement,
    escape_string,
    format_field_value,
    from_ns,
    item_line,
    parse_influx_url,
    split_lines,
    to_ns,
)
from linewatch.connectors.influxdb.writers import WriteFailed
from linewatch.pipeline.models import (
    STORAGE_SCHEMA,
    Alert,
    Attribute,
    BackpressureError,
    ChartPoint,
    DeadLetter,
    Inspection,
    Kpi,
    Measurement,
    Parameter,
)

T = datetime(2026, 11, 2, 6, 0, 0, 146136, tzinfo=UTC)
T_NS = 1_793_599_200_146_136_000

# -- a reference parser ------------------------------------------------------------------


def _scan(line: str, i: int, stops: str) -> tuple[str, int]:
    j = i
    while j < len(line) and line[j] not in stops:
        j += 2 if line[j] == "\\" else 1
    return line[i:j], j


def _unescape(raw: str, chars: str) -> str:
    out, i = [], 0
    while i < len(raw):
        if raw[i] == "\\" and i + 1 < len(raw) and raw[i + 1] in chars:
            out.append(raw[i + 1])
            i += 2
        else:
            out.append(raw[i])
            i += 1
    return "".join(out)


def parse(line: str) -> tuple[str, dict[str, str], dict[str, Any], int]:
    raw, i = _scan(line, 0, ", ")
    measurement = _unescape(raw, ", ")
    tags: dict[str, str] = {}
    while line[i] == ",":
        key, i = _scan(line, i + 1, "=")
        value, i = _scan(line, i + 1, ", ")
        assert value, f"empty tag value in {line!r}"
        tags[_unescape(key, ",= ")] = _unescape(value, ",= ")
    assert line[i] == " ", line
    fields: dict[str, Any] = {}
    i += 1
    while True:
        key, i = _scan(line, i, "=")
        i += 1
        parsed: Any
        if line[i] == '"':
            chars, i = [], i + 1
            while line[i] != '"':
                if line[i] == "\\" and line[i + 1] in '"\\':
                    i += 1
                chars.append(line[i])
                i += 1
            parsed, i = "".join(chars), i + 1
        else:
            value, i = _scan(line, i, ", ")
            if value.endswith("i"):
                parsed = int(value[:-1])
            elif value in ("true", "false"):
                parsed = value == "true"
            else:
                parsed = float(value)
        fields[_unescape(key, ",= ")] = parsed
        if line[i] != ",":
            break
        i += 1
    assert line[i] == " ", line
    return measurement, tags, fields, int(line[i + 1 :])


# -- escaping ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "escaped"),
    [
        ("spc_point", "spc_point"),
        ("a b", "a\\ b"),
        ("a,b", "a\\,b"),
        ("a=b", "a=b"),  # equals signs need no escape in a measurement
        ('a"b', 'a"b'),
        ("a\\b", "a\\b"),
        ("ünï ✓", "ünï\\ ✓"),
    ],
)
def test_measurement_escaping(name: str, escaped: str) -> None:
    assert escape_measurement(name) == escaped


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("L3", "L3"),
        ("weld 2", "weld\\ 2"),
        ("a,b", "a\\,b"),
        ("k=v", "k\\=v"),
        ('say "x"', 'say\\ "x"'),
        ("back\\slash", "back\\slash"),
        ("\\\\x", "\\\\x"),
        ("tab\there", "tab\there"),
        ("#hash", "#hash"),
    ],
)
def test_tag_and_field_key_escaping(text: str, escaped: str) -> None:
    assert escape_key(text) == escaped


@pytest.mark.parametrize(
    "text", ["", "line\nbreak", "cr\rhere", "ends\\", "a\\,b", "a\\=b", "a\\ b", "a\\\\,b"]
)
def test_names_line_protocol_cannot_carry_are_refused(text: str) -> None:
    with pytest.raises(LineProtocolError):
        escape_key(text)
    with pytest.raises(LineProtocolError):
        escape_measurement(text)


def test_a_measurement_may_not_start_like_a_comment() -> None:
    with pytest.raises(LineProtocolError, match="comment"):
        escape_measurement("#m")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("plain", '"plain"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("ends\\", '"ends\\\\"'),
        ("two\nlines", '"two\nlines"'),
        ("", '""'),
    ],
)
def test_string_field_escaping(value: str, text: str) -> None:
    assert escape_string(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1.0"),
        (-0.5, "-0.5"),
        (1e-300, "1e-300"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (0.1 + 0.2, "0.30000000000000004"),
        (0, "0i"),
        (-(2**63), "-9223372036854775808i"),
        (2**63 - 1, "9223372036854775807i"),
        (True, "true"),
        (False, "false"),
        ("x", '"x"'),
    ],
)
def test_field_values(value: Any, text: str) -> None:
    assert format_field_value(value) == text


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 2**63, -(2**63) - 1, b"x"])
def test_field_values_influxdb_cannot_store(value: Any) -> None:
    with pytest.raises(LineProtocolError):
        format_field_value(value)


def test_encode_line_sorts_tags_and_leaves_out_empty_tags_none_and_nan() -> None:
    line = encode_line(
        "m",
        {"z": "1", "a": "2", "empty": "", "none": None},
        {"v": 1.5, "n": None, "nan": math.nan, "i": 3, "s": "x y"},
        T_NS,
    )
    assert line == f'm,a=2,z=1 v=1.5,i=3i,s="x y" {T_NS}'


def test_a_line_needs_a_field_and_an_integer_timestamp() -> None:
    with pytest.raises(LineProtocolError, match="at least one field"):
        encode_line("m", {"t": "x"}, {"v": None, "w": math.nan}, 1)
    with pytest.raises(LineProtocolError, match="not an integer"):
        encode_line("m", {}, {"v": 1.0}, 1.5)  # type: ignore[arg-type]


# -- timestamps ----------------------------------------------------------------------------


def test_timestamps_are_exact_nanoseconds_of_the_event_time() -> None:
    assert to_ns(T) == T_NS
    assert to_ns(T.astimezone(timezone(timedelta(hours=-5)))) == T_NS
    assert to_ns(datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)) == -1000
    assert from_ns(T_NS) == T
    assert from_ns(T_NS + 999) == T  # below a microsecond: Python datetimes cannot hold it
    with pytest.raises(LineProtocolError, match="no time zone"):
        to_ns(datetime(2026, 1, 1))
    with pytest.raises(LineProtocolError, match="range"):
        to_ns(datetime(2300, 1, 1, tzinfo=UTC))


# -- every item kind -----------------------------------------------------------------------


def test_every_item_kind_has_its_measurement_tags_and_typed_fields() -> None:
    alert = Alert(
        alert_id="a-1", fingerprint="fp", status="firing", ts=T, starts_at=T, ends_at=None,
        line="L3", station="weld-2", characteristic="dia", chart="imr", rule="nelson1",
        severity="critical", value=5, cl=5.4, ucl=5.6, lcl=None, message='x "y"',
    )  # fmt: skip
    cases: list[tuple[Any, str]] = [
        (ChartPoint(ts=T, line="L3", station="weld-2", characteristic="dia", chart="imr",
                    value=5, cl=5.4, ucl=5.6, lcl=5.2, zone="B", limits_version=1,
                    violations=["n1", "n5"]),
         'spc_point,characteristic=dia,chart=imr,line=L3,station=weld-2 value=5.0,cl=5.4,'
         'ucl=5.6,lcl=5.2,zone="B",limits_version=1i,violations="n1|n5"'),
        (alert,
         'spc_alert,characteristic=dia,chart=imr,line=L3,rule=nelson1,severity=critical,'
         'station=weld-2,status=firing value=5.0,message="x \\"y\\"",fingerprint="fp",'
         'alert_id="a-1",cl=5.4,ucl=5.6,'
         'starts_at="2026-11-02T06:00:00.146136+00:00",occurrences=1i'),
        (Kpi(ts=T, line="L3", station="final", kpi="fpy", value=1, window_s=60),
         "kpi,kpi=fpy,line=L3,station=final value=1.0,window_s=60.0"),
        (Kpi(ts=T, line="L3", station="weld-2", kpi="cpk", value=1.41, window_s=0,
             characteristic="dia", window_n=125, lower=1.2, upper=1.6),
         "kpi,characteristic=dia,kpi=cpk,line=L3,station=weld-2 value=1.41,window_s=0.0,"
         "window_n=125i,lower=1.2,upper=1.6"),
        (Parameter(ts=T, line="L3", station="weld-2", equipment="w7", name="tip", value=410),
         "process_param,equipment=w7,line=L3,name=tip,station=weld-2 value=410.0"),
        (Measurement(ts=T, line="L3", station="weld-2", characteristic="dia", value=5.42,
                     subgroup="SG-1", part_id="P-1", product="B-7"),
         'measurement,characteristic=dia,line=L3,station=weld-2 value=5.42,'
         'subgroup="SG-1",part_id="P-1",product="B-7"'),
        (Inspection(ts=T, line="L3", station="final", part_id="P-1", result="fail",
                    defects=2, defect_codes=["porosity", "spatter"], rework=True),
         'inspection,line=L3,result=fail,station=final part_id="P-1",defects=2i,'
         'defect_codes="porosity|spatter",rework=true'),
        (Attribute(ts=T, line="L3", station="final", characteristic="porosity",
                   inspected=200, nonconforming=3),
         "attribute,characteristic=porosity,line=L3,station=final inspected=200i,"
         "nonconforming=3i"),
    ]  # fmt: skip
    for item, text in cases:
        line = item_line(item)
        assert line == f"{text} {T_NS}"
        measurement, tags, fields, ts = parse(line)
        tag_keys, field_keys = STORAGE_SCHEMA[measurement]
        assert set(tags) <= set(tag_keys) and set(fields) <= set(field_keys)
        assert ts == T_NS


def test_the_same_item_gives_the_same_line_so_a_rewrite_overwrites() -> None:
    point = Kpi(ts=T, line="L3", station="final", kpi="fpy", value=0.9, window_s=60)
    assert item_line(point) == item_line(
        Kpi(**{f: getattr(point, f) for f in point.__struct_fields__})
    )


def test_dead_letters_are_not_written() -> None:
    letter = DeadLetter(ts=T, origin="a:1", reason="r", payload="{}", payload_encoding="json")
    assert item_line(letter) is None


# -- round trip through the reference parser -----------------------------------------------

names = st.text(
    alphabet=st.sampled_from(list("ab Z0,= \"'\\#\t\n\rü✓_-.:|")) | st.characters(),
    min_size=0,
    max_size=12,
)
field_values = (
    st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.booleans()
    | st.text(max_size=20)
)


@given(
    measurement=names,
    tags=st.dictionaries(names, names, max_size=4),
    fields=st.dictionaries(names, field_values, min_size=1, max_size=4),
    ts=st.integers(min_value=-(2**63), max_value=2**63 - 1),
)
def test_what_is_encoded_parses_back_to_the_same_point(
    measurement: str, tags: dict[str, str], fields: dict[str, Any], ts: int
) -> None:
    try:
        line = encode_line(measurement, tags, fields, ts)
    except LineProtocolError:
        bad = [measurement, *(k for k, v in tags.items() if v), *filter(None, tags.values())]
        bad += list(fields)
        assert any(_unrepresentable(n) for n in bad) or measurement.startswith("#")
        assume(False)
    assert "\n" not in line.split('"')[0]  # breaks only ever inside string fields
    assert parse(line) == (measurement, {k: v for k, v in tags.items() if v}, fields, ts)
    assert split_lines(f"{line}\n{line}\n") == [line, line]


def _unrepresentable(name: str) -> bool:
    return (
        not name
        or "\n" in name
        or "\r" in name
        or any(
            c == "\\" and (name[i + 1 : i + 2] in ("", ",", "=", " ")) for i, c in enumerate(name)
        )
    )


@given(st.lists(st.text(max_size=15), min_size=1, max_size=6))
def test_split_lines_keeps_line_breaks_inside_string_fields(texts: list[str]) -> None:
    lines = [encode_line('m,"x', {"t": 'q"'}, {"s": t, "v": 1.0}, k) for k, t in enumerate(texts)]
    assert split_lines("\n".join(lines)) == lines


# -- influx:// URLs --------------------------------------------------------------------------


def test_url_with_everything() -> None:
    s = parse_influx_url(
        "influxs://u%40x:p%3Aw@db.example.com:8443/plant%201?rp=raw&api=v1&token=t%2Fk&org=acme"
    )
    assert (s.url, s.database, s.retention_policy, s.api) == (
        "https://db.example.com:8443", "plant 1", "raw", "v1",
    )  # fmt: skip
    assert (s.username, s.password, s.token, s.org) == ("u@x", "p:w", "t/k", "acme")
    assert s.bucket == "plant 1/raw"
    assert "p:w" not in repr(s) and "t/k" not in repr(s)


def test_url_defaults() -> None:
    s = parse_influx_url("influx://localhost/lw")
    assert (s.url, s.api, s.retention_policy, s.org, s.bucket) == (
        "http://localhost:8086", "v2", None, "-", "lw",
    )  # fmt: skip
    assert parse_influx_url("influx://[::1]:9999/lw").url == "http://[::1]:9999"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://localhost:8086/lw", "not an InfluxDB URL"),
        ("kafka://localhost:9092/lw", "not an InfluxDB URL"),
        ("influx://localhost:8086", "names no database"),
        ("influx://localhost:8086/", "names no database"),
        ("influx:///lw", "names no host"),
        ("influx://localhost:port/lw", "Port could not be cast"),
        ("influx://localhost:8086/db/rp", "give ?rp="),
        ("influx://localhost:8086/lw?api=v3", "api must be v1 or v2"),
        ("influx://localhost:8086/lw?retention=x", "unknown option(s) retention"),
        ("influx://localhost:8086/lw#frag", "fragment"),
    ],
)
def test_bad_urls_say_what_is_wrong(url: str, says: str) -> None:
    with pytest.raises(ValueError, match="influx://") as caught:
        parse_influx_url(url)
    assert says in str(caught.value)


# -- failures, spool, dependency -------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "message", "kind"),
    [
        (None, "connection refused", "transient"),
        (500, "timeout", "transient"),
        (503, "", "transient"),
        (429, "slow down", "transient"),
        (408, "", "transient"),
        (400, "partial write: field type conflict", "data"),
        (413, "too large", "data"),
        (422, "unprocessable", "data"),
        (401, "authorization failed", "config"),
        (403, "not authorized", "config"),
        (404, "database not found", "config"),
        (500, "retention policy not found: x", "config"),
    ],
)
def test_write_failures_are_classified(status: int | None, message: str, kind: str) -> None:
    assert WriteFailed(status, message).kind == kind


def _closed_url() -> str:
    with socket.socket() as probe:  # a port nobody listens on: connection refused at once
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def _kpis(first: int, count: int) -> list[Kpi]:
    return [
        Kpi(
            ts=from_ns(10**18 + k),
            line="L3",
            station="final",
            kpi="fpy",
            value=k / 100,
            window_s=3600,
        )
        for k in range(first, first + count)
    ]


def _spooled_bodies(sink: InfluxSink) -> list[list[str]]:
    spool = sink._spool
    return [split_lines(gzip.decompress(spool.read(e)).decode()) for e in spool]


def test_sink_spools_in_order_and_a_restart_and_an_unlocked_slot_are_replayed_first(
    tmp_path: Path,
) -> None:
    url, root = _closed_url(), tmp_path / "spool"
    options: dict[str, Any] = {"api": "v1", "spool_dir": root, "check": False,
                               "batch_size": 2, "retry_for_s": 0.0, "timeout_s": 1.0}  # fmt: skip
    first = InfluxSink(url, "lw", **options)
    for item in _kpis(0, 5):
        first.add(item)
    first.flush()  # the server is away: three batches (2 + 2 + 1 lines) spooled
    assert (first.spooled_batches, first.spooled_lines, first.pending_lines) == (3, 5, 0)
    assert first.written_lines == 0 and first.spool_dir == root / "slot-0"
    assert sorted(p.name for p in first.spool_dir.glob("*.lp.gz")) == [
        "000000000000.lp.gz",
        "000000000001.lp.gz",
        "000000000002.lp.gz",
    ]
    second = InfluxSink(url, "lw", **options)  # first holds slot-0's lock
    assert second.spool_dir == root / "slot-1" and second.spooled_batches == 0
    second.add(_kpis(9, 1)[0])
    second.flush()
    first.close()  # the server is still away: both keep their batches
    second.close()
    third = InfluxSink(url, "lw", **options)
    assert third.spool_dir == root / "slot-0" and third.spooled_batches == 4
    expected = [item_line(k) for k in _kpis(0, 5) + _kpis(9, 1)]
    assert _spooled_bodies(third) == [expected[0:2], expected[2:4], expected[4:5], expected[5:6]]
    assert not list((root / "slot-1").glob("*.lp.gz"))
    third.close()


def test_sink_spool_bound_lets_an_empty_spool_take_one_batch(tmp_path: Path) -> None:
    sink = InfluxSink(_closed_url(), "lw", api="v1", spool_dir=tmp_path, check=False,
                      batch_size=10, retry_for_s=0.0, spool_max_bytes=10)  # fmt: skip
    for item in _kpis(0, 10):
        sink.add(item)
    sink.flush()  # far over 10 bytes, but the spool was empty
    assert (sink.spooled_batches, sink.spooled_lines, sink.pending_lines) == (1, 10, 0)
    sink.add(_kpis(10, 1)[0])
    with pytest.raises(BackpressureError, match=r"unavailable \(connection refused.* is full"):
        sink.flush()
    assert (sink.spooled_batches, sink.pending_lines) == (1, 1)  # held, not dropped
    with pytest.raises(BackpressureError):
        sink.close()


def test_sink_takes_over_batches_spooled_in_the_old_format(tmp_path: Path) -> None:
    lines = [line for k in _kpis(0, 3) if (line := item_line(k)) is not None]
    assert len(lines) == 3
    (tmp_path / "slot-0").mkdir()
    (tmp_path / "slot-2").mkdir()
    old = gzip.compress("\n".join(lines[:2]).encode())
    (tmp_path / "slot-0" / "000000000007-2.lp.gz").write_bytes(old)
    (tmp_path / "slot-2" / "000000000000-1.lp.gz").write_bytes(gzip.compress(lines[2].encode()))
    sink = InfluxSink(_closed_url(), "lw", api="v1", spool_dir=tmp_path, check=False,
                      retry_for_s=0.0)  # fmt: skip
    assert (sink.spooled_batches, sink.spooled_lines) == (2, 3)
    assert _spooled_bodies(sink) == [lines[:2], lines[2:]]
    assert not list(tmp_path.rglob("*-*.lp.gz"))
    sink.close()  # the server is away: the batches stay
    assert sink.spooled_batches == 2


def test_missing_influxdb_client_gives_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "influxdb_client", None)
    with pytest.raises(ImportError, match=r"pip install 'linewatch\[influx\]'"):
        InfluxSink("http://127.0.0.1:1", "lw", api="v2", check=False)


def test_unknown_api_is_refused() -> None:
    with pytest.raises(ValueError, match="api must be"):
        InfluxSink("http://127.0.0.1:1", "lw", api="v3", check=False)  # type: ignore[arg-type]
