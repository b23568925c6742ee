"""Poll batches through the columnar lane equal the per-record path, output for output."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linewatch.connectors.kafka.tracker import KafkaStateTracker
from linewatch.connectors.memory import IterableSource, ListSink
from linewatch.detectors.spc.imr import IMRChart
from linewatch.pipeline.checkpoint import LocalStateStore
from linewatch.pipeline.config import parse_config
from linewatch.pipeline.engine import Engine
from linewatch.pipeline.job import Job, build_job
from linewatch.pipeline.models import Alert, Parameter, PartitionOffset, RawRecord
from linewatch.pipeline.poll_lane import PollLane, _string_counts, decode_rows
from linewatch.pipeline.runner import Route, Runner
from tests.unit.test_columnar_replay import _config, _lines, _rows, _timeless
from tests.unit.test_kafka_tracker import PartitionSource
from tests.unit.test_runner import CONFIG, T0, measurement, values

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    """The rows as wire JSON lines; a few in other spellings the lane must not take."""
    lines = []
    for n, row in enumerate(rows):
        cells = {k: v for k, v in row.items() if v is not None}
        ts = EPOCH + timedelta(microseconds=cells.pop("ts"))
        if n % 997 == 5:  # the same instant at +02:00: per record, the zone kept
            ts = ts.astimezone(timezone(timedelta(hours=2)))
        elif n % 1009 == 3:
            ts += timedelta(microseconds=1)
        text = json.dumps({"ts": ts.isoformat().replace("+00:00", "Z"), **cells})
        lines.append(text.replace("NaN", '"NaN"'))  # JSON has no NaN: a dead letter
        if n % 2003 == 11:
            lines.append('{"kind": "measurement", "ts": ')  # malformed: a dead letter
    return ("\n".join(lines) + "\n").encode()


def _replay(folder: Path, data: Path, columnar: bool, points: bool) -> tuple[Job, str]:
    out = folder / ("lane" if columnar else "plain")
    out.mkdir()
    job = build_job(
        _config(out, points),
        mode="replay",
        input_path=data,
        out_dir=out,
        report_path=None,
        columnar=columnar,
    )
    assert job.runner.columnar is None  # a JSONL file: no Parquet lane
    assert (job.runner.poll_lane is not None) is columnar
    job.run()
    return job, _timeless(job.finish())


@pytest.mark.parametrize("points", [False, True])
def test_a_jsonl_replay_through_the_poll_lane_equals_the_per_record_one(
    tmp_path: Path, points: bool
) -> None:
    data = tmp_path / "line.jsonl"
    data.write_bytes(_jsonl(_rows(3000)))
    plain, plain_report = _replay(tmp_path, data, columnar=False, points=points)
    lane, lane_report = _replay(tmp_path, data, columnar=True, points=points)
    poll_lane = lane.runner.poll_lane
    assert isinstance(poll_lane, PollLane)
    assert 5000 < poll_lane.rows_laned < lane.runner.summary.records_read - 3000  # both ran

    a, b = plain.runner.summary, lane.runner.summary
    assert b.alerts == a.alerts  # same alerts in the same order, across streams too
    assert [x.ts.utcoffset() for x in b.alerts] == [x.ts.utcoffset() for x in a.alerts]
    assert len({x.fingerprint for x in a.alerts}) >= 10
    assert (b.records_read, b.records_processed, b.dead_letters, b.outputs) == (
        a.records_read,
        a.records_processed,
        a.dead_letters,
        a.outputs,
    )
    assert b.dead_letter_reasons == a.dead_letter_reasons
    for reason in ("late record", "future timestamp", "implausible value", "truncated"):
        assert any(reason in r for r in a.dead_letter_reasons), reason
    assert _lines(tmp_path / "lane" / "dead.jsonl", "ts") == _lines(
        tmp_path / "plain" / "dead.jsonl", "ts"
    )
    if points:
        lane_out = (tmp_path / "lane" / "out.jsonl").read_text()
        assert lane_out == (tmp_path / "plain" / "out.jsonl").read_text()  # byte for byte
        assert lane_out.count('"type":"chart_point"') > 20_000
    assert lane.kpis.series == plain.kpis.series
    assert lane_report == plain_report
    assert lane.engine.snapshot() == plain.engine.snapshot()
    for counter in ("records_by_kind", "unconfigured", "defect_codes", "refused"):
        assert getattr(lane.engine, counter) == getattr(plain.engine, counter)


def test_decode_rows_gives_each_payload_its_fields_or_none() -> None:
    good = msgspec.json.encode(measurement(0, 1.5))
    pretty = json.dumps(json.loads(good), indent=1).encode()  # holds newlines
    assert b"\n" in pretty
    both = good + b"\n" + good  # two lines in one payload: bad, as the per-record path says
    wrong = good.replace(b'"value"', b'"subgroup":7,"value"')  # the wire's type is str
    got = decode_rows([good, pretty, both, b"", b"  ", {"kind": "measurement"}, wrong, good])
    assert [r and (r.kind, r.ts, r.line, r.value) for r in got] == [
        ("measurement", T0, "L3", 1.5),
        ("measurement", T0, "L3", 1.5),
        None,
        None,
        None,
        None,
        None,
        ("measurement", T0, "L3", 1.5),
    ]


@pytest.mark.parametrize(
    ("change", "laned"),
    [
        ({}, 40),
        ({"characteristic": "bad name"}, 0),  # a dead letter, said by the wire decode
        ({"characteristic": "x" * 201}, 0),
        ({"station": "weld/2"}, 39),  # a dead letter of no key: the other 39 laned
        ({"value": None}, 39),  # the same
        ({"ts": "2026-11-23T06:12:30"}, 0),  # the row's own instant, naive
        ({"ts": "2026-11-23T08:12:30+02:00"}, 0),  # the row's own instant, not in UTC
        ({"kind": "inspection"}, 0),
        ({"equipment": 5}, 0),  # ignored by the wire decode, refused by the lane's
    ],
)
def test_a_key_is_laned_only_if_every_row_would_decode_as_the_lane_reads_it(
    change: dict[str, Any], laned: int
) -> None:
    """One row of 40 changed: the key is laned whole, or goes record by record; either
    way the outputs (their times' zones too) and dead letters equal the per-record path's."""
    rows = [
        json.loads(msgspec.json.encode(measurement(i, v))) for i, v in enumerate(values(40, 30))
    ]
    assert rows[25]["ts"] == "2026-11-23T06:12:30Z"
    rows[25].update(change)
    assert _lane_and_plain([json.dumps(row).encode() for row in rows]) == laned


def test_times_past_2199_are_dead_letters_in_the_lane_too() -> None:
    """A fresh key all of whose times are in 2200: the clock has nothing to refuse, so
    only the lane's own range check keeps them out."""
    rows = [
        json.loads(msgspec.json.encode(measurement(i, v))) for i, v in enumerate(values(40, 30))
    ]
    for row in rows:
        row["ts"] = row["ts"].replace("2026-", "2200-")
    assert _lane_and_plain([json.dumps(row).encode() for row in rows], alerts=0) == 0


def _lane_and_plain(payloads: list[bytes], alerts: int = 70) -> int:
    """Both paths over ``payloads`` in one batch, asserted equal; the rows laned."""
    results, laned = [], 0
    for lane in (False, True):
        sink, dead = ListSink(), ListSink()
        source = IterableSource(payloads, batch_size=len(payloads))
        runner = Runner(
            Engine(CONFIG), source, [Route(sink, frozenset({"alerts", "points"}))], dead
        )
        runner.poll_lane = PollLane() if lane else None
        runner.run()
        results.append((repr(sink.items), [d.reason for d in dead.items], runner.engine.snapshot()))
        if lane:
            laned = runner.poll_lane.rows_laned  # type: ignore[union-attr]
    assert results[1] == results[0]
    assert results[0][0].count("ChartPoint(") >= alerts
    return laned


class BatchPartitionSource(PartitionSource):
    """``events/0`` in polls of ``batch`` records, answering per key as a Kafka source does."""

    def __init__(self, payloads: list[bytes], first: int, batch: int, resume: Any = None) -> None:
        super().__init__(payloads, first, resume)
        self.batch = batch

    def poll(self, timeout: float) -> list[RawRecord]:
        taken = self._payloads[: self.batch]
        found = [
            RawRecord(p, f"events/0@{self._offset + n}", position=PartitionOffset("events", 0, n))
            for n, p in enumerate(taken, start=self._offset)
        ]
        self._offset += len(found)
        del self._payloads[: len(found)]
        return found

    def should_apply_all(self, key: str, raws: list[RawRecord], mark: bool = True) -> bool:
        return self.tracker.should_apply_all(key, raws, mark)


def _run(source: PartitionSource, lane: bool, store: LocalStateStore) -> tuple[Runner, ListSink]:
    sink = ListSink()
    runner = Runner(
        Engine(CONFIG), source, [Route(sink, frozenset({"alerts"}))], ListSink(), state_store=store
    )
    runner.poll_lane = PollLane() if lane else None
    if (checkpoint := store.load()) is not None:
        runner.restore(checkpoint)
    runner.run()
    return runner, sink


@pytest.mark.parametrize("lane", [False, True])
def test_records_read_again_after_a_checkpoint_are_skipped_in_the_lane_too(
    tmp_path: Path, lane: bool
) -> None:
    """A worker applies offsets 0..229 and checkpoints, its commit is lost, and the next one
    reads from 100 again: the batch 100..179 is all in the state, the batch 180..259
    straddles the applied offset, so it goes record by record."""
    records = [msgspec.json.encode(measurement(i, v)) for i, v in enumerate(values(400, 300))]
    store = LocalStateStore(tmp_path / str(lane))
    first, first_sink = _run(BatchPartitionSource(records[:230], 0, 80), lane, store)
    checkpoint = store.load()
    assert checkpoint is not None
    assert checkpoint.source["applied"] == {"L3/weld-2": {"events/0": 230}}
    second, second_sink = _run(
        BatchPartitionSource(records[100:], 100, 80, resume=checkpoint.source), lane, store
    )
    assert second.summary.records_skipped == 130
    assert second.summary.records_processed == 170
    if lane:  # only the batches that hold nothing applied before are laned
        assert (first.poll_lane.rows_laned, second.poll_lane.rows_laned) == (230, 140)  # type: ignore[union-attr]
    alerts = [a for a in first_sink.items + second_sink.items if isinstance(a, Alert)]
    straight, straight_sink = _run(
        BatchPartitionSource(records, 0, 80), False, LocalStateStore(tmp_path / "s")
    )
    assert alerts == [a for a in straight_sink.items if isinstance(a, Alert)]
    assert len(alerts) >= 2
    assert second.engine.snapshot() == straight.engine.snapshot()


def _raws(*positions: tuple[str, int, int]) -> list[RawRecord]:
    return [RawRecord(b"", "x", position=PartitionOffset(*p)) for p in positions]


def test_should_apply_all_marks_a_keys_batch_or_changes_nothing() -> None:
    tracker = KafkaStateTracker(resume={"applied": {"L1/a": {"t/0": 10}}})
    assert tracker.should_apply_all("L1/a", []) is True
    assert tracker.should_apply_all("L1/a", _raws(("t", 0, 9), ("t", 0, 10))) is False
    assert tracker.should_apply_all("L1/a", _raws(("t", 0, 12), ("t", 0, 11))) is False
    assert tracker.should_apply_all("L1/a", _raws(("t", 0, 12), ("t", 0, 12))) is False
    assert tracker.should_apply_all("L1/a", _raws(("t", 0, 12), ("t", 1, 13))) is False
    assert tracker.should_apply_all("L1/a", _raws(("t", 0, 12), ("u", 0, 13))) is False
    mixed = [RawRecord(b"", "x", position=5), *_raws(("t", 0, 12))]
    assert tracker.should_apply_all("L1/a", mixed) is False
    assert tracker.snapshot() == {"applied": {"L1/a": {"t/0": 10}}, "key_partition": {}}
    assert tracker.should_apply_all("L1/a", _raws(("t", 0, 10), ("t", 0, 14))) is True
    assert tracker.should_apply_all("L1/b", _raws(("t", 2, 0))) is True
    assert tracker.snapshot() == {
        "applied": {"L1/a": {"t/0": 15}, "L1/b": {"t/2": 1}},
        "key_partition": {"L1/a": 0, "L1/b": 2},
    }
    # one by one, the same records say the same
    again = KafkaStateTracker(resume={"applied": {"L1/a": {"t/0": 10}}})
    assert [again.should_apply("L1/a", r) for r in _raws(("t", 0, 10), ("t", 0, 14))] == [True] * 2
    assert [again.should_apply("L1/b", r) for r in _raws(("t", 2, 0))] == [True]
    assert again.snapshot() == tracker.snapshot()


def test_a_chart_that_raises_in_the_lane_puts_its_key_back_and_the_batch_goes_record_by_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every 4th batch judgement raises part-way (after the chart state moved): the key is
    rebuilt from its base and the records since, its batch goes record by record, and the
    run still equals the per-record one, stream figures and state included."""
    data = tmp_path / "line.jsonl"
    data.write_bytes(_jsonl(_rows(1500)))
    plain, plain_report = _replay(tmp_path, data, columnar=False, points=True)
    original = IMRChart.update_batch
    calls = [0]

    def flaky(self: IMRChart, ts: Any, xs: Any) -> Any:
        calls[0] += 1
        columns = original(self, ts, xs)
        if calls[0] % 4 == 0:
            raise RuntimeError("a bug in the lane")
        return columns

    monkeypatch.setattr(IMRChart, "update_batch", flaky)
    lane, lane_report = _replay(tmp_path, data, columnar=True, points=True)
    assert calls[0] > 10
    assert lane.runner.poll_lane.rows_laned > 1000  # type: ignore[union-attr]
    assert lane.runner.summary.alerts == plain.runner.summary.alerts
    assert lane.runner.summary.outputs == plain.runner.summary.outputs
    lane_out = (tmp_path / "lane" / "out.jsonl").read_text()
    assert lane_out == (tmp_path / "plain" / "out.jsonl").read_text()
    assert lane_report == plain_report
    assert lane.engine.snapshot() == plain.engine.snapshot()
    assert sorted(lane.engine.stream_stats, key=repr) == sorted(plain.engine.stream_stats, key=repr)


def _both(payloads: list[bytes], config: Any = CONFIG) -> list[Any]:
    """A run per path over ``payloads`` in one batch: what each gave."""
    results = []
    for lane in (False, True):
        sink, dead = ListSink(), ListSink()
        runner = Runner(
            Engine(config),
            IterableSource(payloads, batch_size=1000),
            [Route(sink, frozenset({"alerts", "points"}))],
            dead,
        )
        runner.poll_lane = PollLane() if lane else None
        runner.run()
        results.append(
            (
                sink.items,
                [d.reason for d in dead.items],
                dict(runner.engine.unconfigured),
                runner.summary.records_processed,
                runner.engine.snapshot(),
            )
        )
    return results


def _weld(n: int = 40) -> list[bytes]:
    return [msgspec.json.encode(measurement(i, v)) for i, v in enumerate(values(n, 30))]


HEAD = b'{"kind":"measurement",'


@pytest.mark.parametrize(
    "twice",
    [
        b'"value":null,',
        b'"ts":"2026-11-23T06:00:00",',
        b'"characteristic":"bad name",',
        b'"line":"L 3",',
        b'"subgroup":7,',  # the wire's type here too: refused by both decodes
        b'"val\\u0075e":null,',  # the same key, escaped
    ],
)
def test_a_field_given_twice_is_judged_as_the_wire_decode_judges_it(twice: bytes) -> None:
    payloads = _weld()
    payloads[10] = HEAD + twice + payloads[10][len(HEAD) :]
    plain, lane = _both(payloads)
    assert lane == plain
    assert len(plain[1]) == 1  # the wire decode refused it: a dead letter


def test_a_second_kind_is_judged_by_the_first_as_the_wire_decode_does() -> None:
    payloads = _weld()
    payloads[10] = b'{"kind":"inspection",' + payloads[10][1:]
    plain, lane = _both(payloads)
    assert lane == plain
    assert plain[1] == ["t:11: Invalid value 'measurement' - at `$.kind`"] or len(plain[1]) == 1


def test_a_deeply_nested_payload_is_a_dead_letter_not_a_crash() -> None:
    payloads = _weld()
    payloads[3] = HEAD + b'"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    plain, lane = _both(payloads)
    assert lane == plain
    assert ["nested too deeply" in r for r in plain[1]] == [True]


def test_a_nul_in_a_name_does_not_merge_a_measurement_into_a_parameter_stream() -> None:
    config = parse_config(
        {
            "lines": [
                {
                    "name": "L3",
                    "stations": [
                        {
                            "name": "weld-2",
                            "parameters": [
                                {"equipment": "e1", "name": "p", "chart": "imr", "phase1": 20}
                            ],
                        }
                    ],
                }
            ]
        }
    )
    payloads = [
        msgspec.json.encode(
            Parameter(
                ts=measurement(i, v).ts,
                line="L3",
                station="weld-2",
                equipment="e1",
                name="p",
                value=v,
            )
        )
        for i, v in enumerate(values(40, 30))
    ]
    odd = msgspec.structs.replace(measurement(5, 50.0), characteristic="e1\x00p")
    payloads.insert(6, msgspec.json.encode(odd))
    plain, lane = _both(payloads, config)
    assert lane == plain
    assert plain[2] == {"L3/weld-2/e1\x00p": 1}


def test_a_kafka_key_the_lane_gives_up_on_is_still_applied_record_by_record(
    tmp_path: Path,
) -> None:
    records = _weld(80)
    late = msgspec.structs.replace(measurement(50, 10.0), ts=T0 - timedelta(days=1))
    records[50] = msgspec.json.encode(late)
    got = []
    for lane in (False, True):
        runner, sink = _run(
            BatchPartitionSource(list(records), 0, 80), lane, LocalStateStore(tmp_path / str(lane))
        )
        summary = runner.summary
        got.append(
            (
                summary.records_processed,
                summary.records_skipped,
                summary.dead_letters,
                sink.items,
                runner.source.snapshot(),
            )
        )
    assert got[1] == got[0]
    assert got[0][:3] == (79, 0, 1)


class _ChokeOn(Engine):
    def process(self, record: Any) -> Any:
        if getattr(record, "value", None) == 10.25:
            raise OverflowError("a bug")
        return super().process(record)


def test_a_rebuild_after_a_checkpoint_keeps_the_guard_sample_as_it_was() -> None:
    """The guard's sample (its first 30 values) kept as a rebuild's base is a copy: a
    poisoned record after the checkpoint leaves the key as if it had never come."""
    good = _weld(25)
    poisoned = [*good[:15], msgspec.json.encode(measurement(15, 10.25)), *good[15:]]
    snapshots = []
    for payloads in (good, poisoned):
        runner = Runner(
            _ChokeOn(CONFIG),
            IterableSource(payloads, batch_size=10),
            [],
            ListSink(),
            checkpoint_every_records=10,
        )
        runner.run()
        snapshots.append(runner.engine.snapshot())
    assert len(snapshots[0]["keys"]["L3/weld-2"]["streams"]["d"]["guard"]["sample"]) == 25
    assert snapshots[1] == snapshots[0]


_NAMES = ["kind", "ts", "line", "station", "characteristic", "equipment", "name", "value"]
_NEAR = [n[:-1] + "X" for n in _NAMES] + ["X" + n[1:] for n in _NAMES] + ["kin", "kinds", ""]
_TEXT = st.one_of(st.sampled_from(_NAMES + _NEAR), st.text(max_size=6))
_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), _TEXT),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(documents=st.lists(st.dictionaries(_TEXT, _JSON, max_size=6), min_size=1, max_size=4))
def test_the_string_counts_equal_counting_each_quoted_name(documents: list[Any]) -> None:
    """The one-pass count of strings spelling a field's name gives what counting each
    quoted name in the bytes gives (the proof ``_fields_once`` rests on), with names as
    keys and values, nested, near misses and unicode among them."""
    data = b"\n".join(msgspec.json.encode(d) for d in documents)
    if b"\\" in data:
        return  # _fields_once refuses these before counting
    expected = [data.count(b'"' + name.encode() + b'"') for name in _NAMES]
    assert _string_counts(data) == expected
