"""The InfluxDB sink and replay source against real servers: 1.6.7 (v1 API) and 1.11.8
(v2 compatibility API), started by the session's fixtures on 127.0.0.1.

Round trip of every output and record kind (every tag, field, field type and timestamp),
idempotent rewrites, a 30 s outage mid-stream, a full spool pushing back, a crashed
process's spool replayed by the next one, bad data isolated, bad configuration failing
fast, and replay by time pages with ties at equal timestamps.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

from linewatch.connectors.influxdb import InfluxSink, InfluxSource, InfluxSourceError
from linewatch.connectors.simulator import simulate, welding_line
from linewatch.pipeline.models import (
    Alert,
    Attribute,
    BackpressureError,
    ChartPoint,
    DeadLetter,
    Inspection,
    Kpi,
    Measurement,
    Output,
    Parameter,
    SinkError,
    WireRecord,
)
from tests.servers.influxdb import Influx1Server, Influx11Server, free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
Item = Output | WireRecord

# (server fixture, API): 1.6.7 speaks only v1; 1.11.8 is driven through the v2 API.
SERVERS = [("influx1_server", "v1"), ("influx11_server", "v2"), ("influx11_server", "v1")]


def ns(ts: datetime) -> int:
    return int((ts - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1)) * 1000


def fresh_db(server: Influx1Server, name: str) -> str:
    db = "".join(c if c.isalnum() else "_" for c in name)[:60]
    server.query(f'DROP DATABASE "{db}"')
    server.create_database(db)
    return db


def sink_for(server: Influx1Server, db: str, api: Any, spool: Path, **options: Any) -> InfluxSink:
    return InfluxSink(server.url, db, api=api, spool_dir=spool, **options)


def flush_like_runner(sink: InfluxSink) -> int:
    """What the runner does: retry a pushing-back flush after retry_after."""
    waits = 0
    while True:
        try:
            sink.flush()
            return waits
        except BackpressureError as exc:
            waits += 1
            time.sleep(exc.retry_after)


# -- what goes in, and what must come out --------------------------------------------------


def sample_items() -> list[Item]:
    """Every kind, with names that need escaping, None fields, and same-ts neighbours."""
    t = [T0 + timedelta(seconds=k, microseconds=137 * k + 1) for k in range(8)]
    station, char = 'weld "2"', "nugget,dia=mm"
    alert: dict[str, Any] = {
        "alert_id": "a-1", "fingerprint": "fp 9f,=", "ts": t[2], "starts_at": t[1],
        "line": "L3", "station": station, "characteristic": char, "chart": "imr:i",
        "rule": "nelson 1", "severity": "critical", "value": 5.71, "cl": 5.4, "ucl": 5.64,
        "lcl": None, "message": 'nugget "dia" above UCL\nsecond line \\ end',
    }  # fmt: skip
    return [
        ChartPoint(ts=t[0], line="L3", station=station, characteristic=char, chart="imr:i",
                   value=5.42, cl=5.4, ucl=5.64, lcl=5.16, zone="C", limits_version=2,
                   phase="I"),
        ChartPoint(ts=t[0], line="L3", station=station, characteristic=char, chart="imr:mr",
                   value=0.08, cl=0.09, ucl=0.3, lcl=None, zone="A", limits_version=2**40,
                   violations=["nelson1", "nelson5"], phase="II"),
        ChartPoint(ts=t[1], line="L3", station="trim", characteristic="back\\slash ünï",
                   chart="xbar", value=-1.25e-300, cl=float("nan"), ucl=None, lcl=None,
                   zone="", limits_version=0),
        Alert(**alert, status="firing", ends_at=None, limits_version=2, limits_from=t[0],
              limits_to=t[1]),
        Alert(**{**alert, "lcl": 5.16}, status="resolved", ends_at=t[3], occurrences=4),
        Kpi(ts=t[3], line="L3", station="final", kpi="fpy", value=0.975, window_s=3600.0),
        Kpi(ts=t[3], line="L3", station=station, kpi="cpk", value=1.0, window_s=900.5,
            characteristic=char, window_n=125, lower=0.87, upper=1.13),
        Parameter(ts=t[4], line="L3", station=station, equipment="welder 07",
                  name="tip temp,°C", value=412.6),
        Parameter(ts=t[4], line="L3", station=station, equipment="welder 07",
                  name="current=kA", value=9.5, part_id="P-000981"),
        Measurement(ts=t[5], line="L3", station=station, characteristic=char, value=5.42,
                    subgroup="SG-2231", part_id="P-000981", product="B 7,x"),
        Measurement(ts=t[5], line="L3", station="trim", characteristic="#gap", value=-0.0),
        Inspection(ts=t[6], line="L3", station="final", part_id='P "1"', result="fail",
                   defects=2, defect_codes=["porosity", "spatter"], rework=True),
        Inspection(ts=t[6], line="L3", station="final", part_id="P-2", result="pass"),
        Attribute(ts=t[7], line="L3", station="final", characteristic="porosity",
                  inspected=200, nonconforming=3),
    ]  # fmt: skip


def finite(value: float | None) -> float | None:
    return value if value is not None and value == value else None


def expected_row(item: Item) -> tuple[str, dict[str, Any]]:
    """By hand from the storage schema (pipeline.models.STORAGE_SCHEMA), not with its code."""
    row: dict[str, Any]
    if isinstance(item, ChartPoint):
        return "spc_point", {
            "line": item.line, "station": item.station, "characteristic": item.characteristic,
            "chart": item.chart, "value": item.value, "cl": finite(item.cl), "ucl": item.ucl,
            "lcl": item.lcl, "zone": item.zone, "limits_version": item.limits_version,
            "violations": "|".join(item.violations), "phase": item.phase,
            "time": ns(item.ts),
        }  # fmt: skip
    if isinstance(item, Alert):
        return "spc_alert", {
            "line": item.line, "station": item.station, "characteristic": item.characteristic,
            "chart": item.chart, "rule": item.rule, "severity": item.severity,
            "status": item.status, "value": item.value, "message": item.message,
            "fingerprint": item.fingerprint, "alert_id": item.alert_id, "cl": item.cl,
            "ucl": item.ucl, "lcl": item.lcl, "starts_at": item.starts_at.isoformat(),
            "ends_at": item.ends_at.isoformat() if item.ends_at else None,
            "occurrences": item.occurrences, "limits_version": item.limits_version,
            "limits_from": item.limits_from.isoformat() if item.limits_from else None,
            "limits_to": item.limits_to.isoformat() if item.limits_to else None,
            "time": ns(item.ts),
        }  # fmt: skip
    if isinstance(item, Kpi):
        row = {"line": item.line, "station": item.station, "kpi": item.kpi,
               "characteristic": item.characteristic, "value": item.value,
               "window_s": item.window_s, "window_n": item.window_n, "lower": item.lower,
               "upper": item.upper}  # fmt: skip
        return "kpi", {**row, "time": ns(item.ts)}
    if isinstance(item, Parameter):
        row = {"line": item.line, "station": item.station, "equipment": item.equipment,
               "name": item.name, "value": item.value, "part_id": item.part_id}  # fmt: skip
        return "process_param", {**row, "time": ns(item.ts)}
    if isinstance(item, Measurement):
        row = {"line": item.line, "station": item.station,
               "characteristic": item.characteristic, "value": item.value,
               "subgroup": item.subgroup, "part_id": item.part_id,
               "product": item.product}  # fmt: skip
        return "measurement", {**row, "time": ns(item.ts)}
    if isinstance(item, Inspection):
        row = {"line": item.line, "station": item.station, "result": item.result,
               "part_id": item.part_id, "defects": item.defects,
               "defect_codes": "|".join(item.defect_codes), "rework": item.rework}  # fmt: skip
        return "inspection", {**row, "time": ns(item.ts)}
    assert isinstance(item, Attribute)
    row = {"line": item.line, "station": item.station, "characteristic": item.characteristic,
           "inspected": item.inspected, "nonconforming": item.nonconforming}  # fmt: skip
    return "attribute", {**row, "time": ns(item.ts)}


TAGS = {
    "spc_point": ("line", "station", "characteristic", "chart"),
    "spc_alert": ("line", "station", "characteristic", "chart", "rule", "severity", "status"),
    "kpi": ("line", "station", "kpi", "characteristic"),
    "process_param": ("line", "station", "equipment", "name"),
    "measurement": ("line", "station", "characteristic"),
    "inspection": ("line", "station", "result"),
    "attribute": ("line", "station", "characteristic"),
}
FIELD_TYPES = {
    "spc_point": {"value": "float", "cl": "float", "ucl": "float", "lcl": "float",
                  "zone": "string", "limits_version": "integer", "violations": "string",
                  "phase": "string"},
    "spc_alert": {"value": "float", "message": "string", "fingerprint": "string",
                  "alert_id": "string", "cl": "float", "ucl": "float", "lcl": "float",
                  "starts_at": "string", "ends_at": "string", "occurrences": "integer",
                  "limits_version": "integer", "limits_from": "string", "limits_to": "string"},
    "kpi": {"value": "float", "window_s": "float", "window_n": "integer", "lower": "float",
            "upper": "float"},
    "process_param": {"value": "float", "part_id": "string"},
    "measurement": {"value": "float", "subgroup": "string", "part_id": "string",
                    "product": "string"},
    "inspection": {"part_id": "string", "defects": "integer", "defect_codes": "string",
                   "rework": "boolean"},
    "attribute": {"inspected": "integer", "nonconforming": "integer"},
}  # fmt: skip


def series_key(measurement: str, row: dict[str, Any]) -> tuple[Any, ...]:
    return (measurement, row["time"], *(row.get(tag) for tag in TAGS[measurement]))


def stored(server: Influx1Server, db: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Every point in ``db``, keyed by series and timestamp."""
    points: dict[tuple[Any, ...], dict[str, Any]] = {}
    for measurement in TAGS:
        for row in server.select(f'SELECT * FROM "{measurement}"', db):
            del row["_measurement"]
            key = series_key(measurement, row)
            assert key not in points, f"two rows for one series and timestamp: {key}"
            points[key] = row
    return points


def expected(items: Sequence[Item]) -> dict[tuple[Any, ...], dict[str, Any]]:
    points = {}
    for item in items:
        measurement, row = expected_row(item)
        points[series_key(measurement, row)] = row
    return points


def assert_stored_exactly(server: Influx1Server, db: str, items: Sequence[Item]) -> None:
    want = expected(items)
    got = stored(server, db)
    assert set(got) == set(want)
    for key, row in want.items():
        # SELECT * gives every column of the measurement; the ones a point lacks are null.
        assert got[key] == {column: row.get(column) for column in got[key]}, key
        assert set(row) - {k for k, v in row.items() if v is None} <= set(got[key])


def count(server: Influx1Server, db: str) -> int:
    return len(stored(server, db))


# -- round trip and idempotence ------------------------------------------------------------


@pytest.mark.parametrize(("server_fixture", "api"), SERVERS)
def test_round_trip_every_tag_field_type_and_timestamp(
    server_fixture: str, api: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    server: Influx1Server = request.getfixturevalue(server_fixture)
    db = fresh_db(server, f"rt_{server_fixture}_{api}")
    items = sample_items()
    sink = sink_for(server, db, api, tmp_path / "spool")
    for item in items:
        sink.add(item)
    letter = DeadLetter(ts=T0, origin="x:1", reason="bad", payload="{}", payload_encoding="json")
    sink.add(letter)  # dead letters are not InfluxDB's business
    sink.close()
    assert (sink.written_lines, sink.rejected_lines, sink.spooled_batches) == (len(items), 0, 0)
    assert_stored_exactly(server, db, items)
    for measurement, types in FIELD_TYPES.items():
        result = server.query(f'SHOW FIELD KEYS FROM "{measurement}"', db)
        series = result["results"][0]["series"][0]
        assert dict(series["values"]) == types, measurement


@pytest.mark.parametrize(("server_fixture", "api"), SERVERS[:2])
def test_rewriting_the_same_items_overwrites_and_never_duplicates(
    server_fixture: str, api: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    server: Influx1Server = request.getfixturevalue(server_fixture)
    db = fresh_db(server, f"idem_{server_fixture}")
    items = sample_items()
    sink = sink_for(server, db, api, tmp_path / "spool", batch_size=3)
    for _ in range(2):  # an at-least-once redelivery after a crash before the commit
        for item in items:
            sink.add(item)
        sink.flush()
    assert count(server, db) == len(items)
    # A later version of a point (same series, same ts) replaces the earlier one.
    kpi = next(i for i in items if isinstance(i, Kpi))
    newer = msgspec.structs.replace(kpi, value=0.5)
    sink.add(newer)
    sink.close()
    assert count(server, db) == len(items)
    assert_stored_exactly(server, db, [newer if i is kpi else i for i in items])


# -- outage, spool, backpressure ----------------------------------------------------------


def stream(start: int, n: int) -> list[Item]:
    """Distinct points: four charts of one characteristic and a parameter, one per second."""
    out: list[Item] = []
    for k in range(start, start + n):
        ts = T0 + timedelta(seconds=k // 5, microseconds=k % 5)
        if k % 5 == 4:
            out.append(Parameter(ts=ts, line="L1", station="weld", equipment="welder",
                                 name="tip_temp_c", value=400.0 + k / 1000))  # fmt: skip
        else:
            out.append(ChartPoint(ts=ts, line="L1", station="weld", characteristic="dia",
                                  chart=f"c{k % 5}", value=k / 7, cl=0.0, ucl=1.0, lcl=-1.0,
                                  zone="C", limits_version=1))  # fmt: skip
    return out


@pytest.mark.parametrize(
    ("server_class", "api"),
    [(Influx11Server, "v2"), (Influx1Server, "v1")],
    ids=["1.11.8-v2", "1.6.7-v1"],
)
def test_server_down_30_s_mid_stream_every_point_arrives_exactly_once(
    server_class: type[Influx1Server], api: str, tmp_path: Path
) -> None:
    with server_class(tmp_path / "server") as server:
        db = fresh_db(server, "outage")
        sink = sink_for(server, db, api, tmp_path / "spool", batch_size=300,
                        retry_for_s=1.0, timeout_s=2.0)  # fmt: skip
        sent: list[Item] = []
        spooled: list[int] = []
        errors: list[BaseException] = []
        back = threading.Event()

        def runner() -> None:  # records arrive; a checkpoint every 0.25 s
            try:
                checkpoints_after = 0
                while checkpoints_after < 3:
                    checkpoints_after += back.is_set()
                    chunk = stream(len(sent), 250)
                    for item in chunk:
                        sink.add(item)
                    sent.extend(chunk)
                    flush_like_runner(sink)
                    spooled.append(sink.spooled_batches)
                    time.sleep(0.25)
            except BaseException as exc:
                errors.append(exc)

        # The pipeline runs in a thread; the server is restarted from this one (a server
        # dies with the thread that started it).
        thread = threading.Thread(target=runner, daemon=True)
        thread.start()
        while len(sent) < 2500:
            time.sleep(0.05)
        server.restart(down_seconds=30)
        back.set()
        thread.join(timeout=120)
        assert not thread.is_alive() and not errors, errors
        sink.close()
        assert max(spooled) >= 20, "the outage should have gone through the spool"
        assert spooled[-1] == 0 and sink.spooled_batches == 0
        assert not list(sink.spool_dir.glob("*.lp.gz"))
        assert sink.written_lines == len(sent) and sink.rejected_lines == 0
        assert_stored_exactly(server, db, sent)


def test_full_spool_pushes_back_and_loses_nothing(tmp_path: Path) -> None:
    with Influx1Server(tmp_path / "server") as server:
        db = fresh_db(server, "full")
        sink = sink_for(server, db, "v1", tmp_path / "spool", batch_size=100,
                        spool_max_bytes=6000, retry_for_s=0.2, timeout_s=2.0)  # fmt: skip
        server.stop()
        sent: list[Item] = []
        pushed_back: BackpressureError | None = None
        for _ in range(50):
            chunk = stream(len(sent), 100)
            for item in chunk:
                sink.add(item)
            sent.extend(chunk)
            try:
                sink.flush()
            except BackpressureError as exc:
                pushed_back = exc
                break
        assert pushed_back is not None, "a 6 kB spool must fill up"
        assert "spool" in str(pushed_back) and "full" in str(pushed_back)
        assert 0 < pushed_back.retry_after <= sink.max_retry_after_s
        assert sink.pending_lines == 100  # held in memory, not dropped
        spooled = sink.spooled_lines
        assert spooled + sink.pending_lines == len(sent)
        with pytest.raises(BackpressureError):  # still down: still pushing back
            sink.flush()
        assert (sink.spooled_lines, sink.pending_lines) == (spooled, 100)
        server.start()
        assert flush_like_runner(sink) == 0
        sink.close()
        assert sink.spooled_batches == 0 and sink.written_lines == len(sent)
        assert_stored_exactly(server, db, sent)


CRASHING_WRITER = """
import os, sys
from linewatch.connectors.influxdb import InfluxSink
from tests.integration.test_influxdb import stream
sink = InfluxSink(sys.argv[1], sys.argv[2], api="v1", spool_dir=sys.argv[3], check=False,
                  batch_size=100, retry_for_s=0.1, timeout_s=1.0)
for item in stream(0, 1000):
    sink.add(item)
sink.flush()
print(sink.spooled_batches, flush=True)
os._exit(9)  # a crash: no close, no cleanup
"""


def test_a_crashed_process_spool_is_replayed_by_the_next_one(
    influx1_server: Influx1Server, tmp_path: Path
) -> None:
    server = influx1_server
    db = fresh_db(server, "crash")
    spool = tmp_path / "spool"
    closed = f"http://127.0.0.1:{free_port()}"  # the server is away while the first one runs
    done = subprocess.run(
        [sys.executable, "-c", CRASHING_WRITER, closed, db, str(spool)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 9, done.stderr
    assert int(done.stdout) == 10
    # The next process (here with a different URL object but the same spool) takes over.
    with_other = sink_for(server, db, "v1", tmp_path / "spool")
    assert with_other.spooled_batches == 10
    with_other.close()
    assert with_other.written_lines == 1000
    assert_stored_exactly(server, db, stream(0, 1000))


def test_two_sinks_on_one_spool_dir_take_separate_slots(
    influx1_server: Influx1Server, tmp_path: Path
) -> None:
    db = fresh_db(influx1_server, "slots")
    first = sink_for(influx1_server, db, "v1", tmp_path / "spool")
    second = sink_for(influx1_server, db, "v1", tmp_path / "spool")
    assert first.spool_dir != second.spool_dir
    first.close()
    second.close()


# -- bad data and bad configuration --------------------------------------------------------


@pytest.mark.parametrize(("server_fixture", "api"), SERVERS[:2])
def test_bad_lines_are_isolated_kept_with_the_reason_and_the_rest_written(
    server_fixture: str, api: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    server: Influx1Server = request.getfixturevalue(server_fixture)
    db = fresh_db(server, f"bad_{server_fixture}")
    # Someone wrote kpi.value as a string in this shard: our float values conflict.
    status, body = server.write(db, f'kpi,kpi=other,line=L0,station=s value="text" {ns(T0)}')
    assert status == 204, body
    items = stream(0, 500)
    kpis = [Kpi(ts=T0 + timedelta(seconds=k), line="L1", station="final", kpi="fpy",
                value=0.9, window_s=60.0) for k in (7, 77, 177)]  # fmt: skip
    unencodable = Measurement(ts=T0, line="L1", station="trail\\", characteristic="c", value=1.0)
    sink = sink_for(server, db, api, tmp_path / "spool", batch_size=1000)
    for item in [*items[:100], kpis[0], *items[100:300], kpis[1], *items[300:], kpis[2]]:
        sink.add(item)
    sink.add(unencodable)
    sink.close()
    assert sink.rejected_lines == 4 and sink.written_lines == 500
    rejected = [json.loads(line) for line in sink.rejected_path.read_text().splitlines()]
    conflicts = [r for r in rejected if r["status"] == 400]
    assert [r["line"].split(" ")[-1] for r in conflicts] == [str(ns(k.ts)) for k in kpis]
    assert all("field type conflict" in r["error"] for r in conflicts)
    (encode_error,) = [r for r in rejected if r["status"] is None]
    assert "backslash" in encode_error["error"] and "trail" in encode_error["item"]
    got = stored(server, db)
    assert len(got) == 500 + 1  # ours, and the conflicting one already there


def fails_fast(make: Any) -> str:
    began = time.monotonic()
    with pytest.raises((SinkError, InfluxSourceError)) as caught:
        make()
    assert time.monotonic() - began < 5.0
    return str(caught.value)


def test_wrong_token_fails_fast_with_authorization_failed(
    influx11_auth_server: Influx11Server, influx1_auth_server: Influx1Server, tmp_path: Path
) -> None:
    v2, v1 = influx11_auth_server, influx1_auth_server
    for server in (v2, v1):
        server.create_database("authed")
    assert v2.auth is not None
    user, password = v2.auth
    spool = tmp_path / "spool"
    message = fails_fast(lambda: InfluxSink(v2.url, "authed", token=f"{user}:wrong",
                                            spool_dir=spool))  # fmt: skip
    assert "authorization failed" in message and v2.url in message and "'authed'" in message
    message = fails_fast(lambda: InfluxSink(v2.url, "authed", token="not-a-user-pass",
                                            spool_dir=spool))  # fmt: skip
    assert "authorization failed" in message and "unable to parse" in message
    message = fails_fast(lambda: InfluxSink(v2.url, "authed", spool_dir=spool))
    assert "authorization failed for no credentials" in message
    message = fails_fast(lambda: InfluxSink(v1.url, "authed", api="v1", username=user,
                                            password="wrong", spool_dir=spool))  # fmt: skip
    assert f"authorization failed for user '{user}'" in message and v1.url in message
    message = fails_fast(lambda: InfluxSource(v1.url, "authed", T0, T0 + timedelta(hours=1),
                                              username=user, password="wrong"))  # fmt: skip
    assert "authorization failed" in message
    # The right credentials, each API its way, also through an influx:// URL.
    InfluxSink(v2.url, "authed", token=v2.token, spool_dir=spool).close()
    quoted = password.replace("@", "%40").replace("/", "%2F")
    url = f"influx://{user}:{quoted}@127.0.0.1:{v1.port}/authed?api=v1"
    InfluxSink.from_url(url, spool_dir=spool).close()
    InfluxSource.from_url(url, T0, T0 + timedelta(hours=1)).close()


@pytest.mark.parametrize(("server_fixture", "api"), SERVERS[:2])
def test_wrong_url_database_or_retention_policy_fails_fast_naming_it(
    server_fixture: str, api: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    server: Influx1Server = request.getfixturevalue(server_fixture)
    db = fresh_db(server, "exists")
    spool = tmp_path / "spool"
    closed = f"http://127.0.0.1:{free_port()}"
    message = fails_fast(lambda: sink_for_url(closed, db, api, spool))
    assert f"InfluxDB at {closed} does not answer /ping" in message
    assert "connection refused" in message
    message = fails_fast(lambda: sink_for_url(server.url, "no_such_db", api, spool))
    assert "database not found" in message and "no_such_db" in message
    assert server.url in message
    message = fails_fast(lambda: sink_for(server, db, api, spool, retention_policy="nope"))
    assert "retention policy not found" in message and "nope" in message
    message = fails_fast(lambda: InfluxSource(server.url, "no_such_db", T0, T0 + timedelta(1)))
    assert "database not found" in message
    message = fails_fast(lambda: InfluxSource(closed, db, T0, T0 + timedelta(1)))
    assert "does not answer /ping" in message and closed in message
    assert not list(spool.rglob("*.lp.gz"))


def sink_for_url(url: str, db: str, api: Any, spool: Path) -> InfluxSink:
    return InfluxSink(url, db, api=api, spool_dir=spool)


# -- replay --------------------------------------------------------------------------------


def by_timestamp(records: Sequence[Any]) -> dict[datetime, Counter[bytes]]:
    groups: dict[datetime, Counter[bytes]] = defaultdict(Counter)
    for record in records:
        groups[record.ts][msgspec.json.encode(record)] += 1
    return dict(groups)


@pytest.mark.parametrize(("server_fixture", "api"), SERVERS[:2])
def test_replay_reads_a_time_range_back_in_order_in_pages(
    server_fixture: str, api: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    server: Influx1Server = request.getfixturevalue(server_fixture)
    db = fresh_db(server, f"replay_{server_fixture}")
    records = list(simulate(welding_line(), T0, minutes=120, faults=[], seed=1))
    sink = sink_for(server, db, api, tmp_path / "spool")
    for record in records:
        sink.add(record)
    sink.close()
    start, stop = T0 + timedelta(minutes=10), T0 + timedelta(minutes=100)
    wanted = [r for r in records if start <= r.ts < stop]
    kinds = (Parameter, Measurement)

    source = InfluxSource(server.url, db, start, stop, page_size=100, batch_size=64,
                          measurements=["process_param", "measurement"])  # fmt: skip
    got = []
    while not source.exhausted:
        for raw in source.poll(1.0):
            assert raw.origin.startswith(("influx:process_param@", "influx:measurement@"))
            assert isinstance(raw.payload, kinds)
            got.append(raw.payload)
    assert source.progress() == (len(got), len(got))
    source.close()
    assert [r.ts for r in got] == sorted(r.ts for r in got)
    assert by_timestamp(got) == by_timestamp([r for r in wanted if isinstance(r, kinds)])
    assert source.queries > len(got) // 100  # it did page

    # All four raw kinds, and a resume after 500 records continues exactly there.
    source = InfluxSource(server.url, db, start, stop, page_size=100, batch_size=500)
    first = [raw.payload for raw in source.poll(1.0)]
    everything = first + [raw.payload for raw in iter_all(source)]
    assert by_timestamp(everything) == by_timestamp(wanted)
    resumed = InfluxSource(server.url, db, start, stop, page_size=100, start_after=500)
    rest = [raw.payload for raw in iter_all(resumed)]
    assert len(first) == 500 and len(rest) == len(wanted) - 500
    assert by_timestamp(first + rest) == by_timestamp(wanted)


def iter_all(source: InfluxSource) -> Iterator[Any]:
    try:
        while not source.exhausted:
            yield from source.poll(1.0)
    finally:
        source.close()


def test_replay_of_more_records_at_one_timestamp_than_a_page_skips_and_repeats_nothing(
    influx11_server: Influx11Server, tmp_path: Path
) -> None:
    server = influx11_server
    db = fresh_db(server, "ties")
    tie, later = T0 + timedelta(seconds=1), T0 + timedelta(seconds=2)
    records: list[WireRecord] = [
        Measurement(ts=ts, line="L1", station="s", characteristic=f"c{k:03d}", value=k / 3)
        for ts, n in ((T0, 50), (tie, 250), (later, 99))
        for k in range(n)
    ]
    sink = sink_for(server, db, "v2", tmp_path / "spool")
    for record in records:
        sink.add(record)
    sink.close()
    for page in (100, 49, 250, 251, 1000):
        source = InfluxSource(server.url, db, T0, later + timedelta(seconds=1), page_size=page)
        got = [raw.payload for raw in iter_all(source)]
        assert len(got) == len(records), page
        assert by_timestamp(got) == by_timestamp(records), page
