"""The decoder: any input gives a valid record or a dead letter with a reason."""

from __future__ import annotations

import base64
import math
from datetime import UTC, datetime, timedelta, timezone

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from linewatch.pipeline.decode import decode
from linewatch.pipeline.models import (
    Attribute,
    DeadLetter,
    Inspection,
    Measurement,
    Parameter,
    RawRecord,
    WireRecord,
)

names = st.from_regex(r"[^/\s]{1,20}", fullmatch=True)
texts = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20)
aware = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5))]),
)
finite = st.floats(allow_nan=False, allow_infinity=False)

records = st.one_of(
    st.builds(
        Parameter,
        ts=aware,
        line=names,
        station=names,
        equipment=names,
        name=names,
        value=finite,
        part_id=st.none() | names,
    ),
    st.builds(
        Measurement,
        ts=aware,
        line=names,
        station=names,
        characteristic=names,
        value=finite,
        subgroup=st.none() | names,
    ),
    st.builds(
        Inspection,
        ts=aware,
        line=names,
        station=names,
        part_id=names,
        result=st.sampled_from(["pass", "fail"]),
        defects=st.integers(0, 50),
        defect_codes=st.lists(names, max_size=3),
        rework=st.booleans(),
    ),
    st.integers(1, 10_000).flatmap(
        lambda n: st.builds(
            Attribute,
            ts=aware,
            line=names,
            station=names,
            characteristic=names,
            inspected=st.just(n),
            nonconforming=st.integers(0, n),
        )
    ),
)


def _is_valid(record: WireRecord) -> bool:
    if isinstance(record, Parameter | Measurement) and not math.isfinite(record.value):
        return False
    if isinstance(record, Attribute) and record.nonconforming > record.inspected:
        return False
    return record.ts.tzinfo is not None


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_decode_to_a_valid_record_or_a_dead_letter(payload: bytes) -> None:
    result = decode(RawRecord(payload, "fuzz:1"))
    if isinstance(result, DeadLetter):
        assert result.reason.startswith("fuzz:1: ") and len(result.reason) > len("fuzz:1: ")
        kept = (
            base64.b64decode(result.payload)
            if result.payload_encoding == "base64"
            else result.payload.encode()
        )
        assert kept == payload  # the original bytes are kept whole
    else:
        assert _is_valid(result)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
near_records = st.fixed_dictionaries(
    {"kind": st.sampled_from(["parameter", "measurement", "inspection", "attribute", "other"])},
    optional={
        "ts": st.sampled_from(["2026-11-23T08:00:00Z", "2026-11-23T08:00:00", "yesterday", 5]),
        "line": json_values,
        "station": json_values,
        "equipment": json_values,
        "name": json_values,
        "characteristic": json_values,
        "value": json_values,
        "part_id": json_values,
        "result": json_values,
        "defects": json_values,
        "inspected": json_values,
        "nonconforming": json_values,
        "defect_codes": json_values,
    },
)


@settings(max_examples=500, deadline=None)
@given(near_records)
def test_near_miss_json_objects_never_raise(document: dict[str, object]) -> None:
    payload = msgspec.json.encode(document)
    result = decode(RawRecord(payload, "fuzz:2"))
    assert isinstance(result, DeadLetter) or _is_valid(result)
    # The same row from a CSV or Parquet file takes the other path: also never raises.
    from_row = decode(RawRecord(document, "fuzz.csv:2"))
    assert isinstance(from_row, DeadLetter) or _is_valid(from_row)


@settings(max_examples=300, deadline=None)
@given(records)
def test_valid_records_round_trip(record: WireRecord) -> None:
    decoded = decode(RawRecord(msgspec.json.encode(record), "x:1"))
    assert decoded == record


def test_ids_with_a_slash_and_far_off_timestamps_are_refused() -> None:
    base = (
        '{"kind":"measurement","line":"L3","station":"%s","characteristic":"d",'
        '"value":1.0,"ts":"%s"}'
    )
    slash = decode(RawRecord((base % ("weld/2", "2026-11-23T08:00:00Z")).encode(), "x:1"))
    assert isinstance(slash, DeadLetter) and "`$.station`" in slash.reason
    far = decode(RawRecord((base % ("weld-2", "9999-12-31T23:59:00Z")).encode(), "x:2"))
    assert isinstance(far, DeadLetter)
    assert far.reason == "x:2: `ts` 9999-12-31T23:59:00+00:00 is outside 1970-2199"


def test_reasons_name_the_field() -> None:
    cases = {
        b'{"kind":"measurement","ts":"2026-11-23T08:00:00Z","line":"L","station":"s",'
        b'"characteristic":"d","value":"5.4"}': "Expected `float`, got `str` - at `$.value`",
        b'{"kind":"measurement","ts":"2026-11-23T08:00:00","line":"L","station":"s",'
        b'"characteristic":"d","value":5.4}': "Expected `datetime` with a timezone component - at `$.ts`",
        b'{"kind":"attribute","ts":"2026-11-23T08:00:00Z","line":"L","station":"s",'
        b'"characteristic":"p","inspected":10,"nonconforming":11}': "`nonconforming` (11) exceeds `inspected` (10)",
        b'{"kind":"weld"}': "Invalid value 'weld' - at `$.kind`",
        b'{"kind":"parameter"': "Input data was truncated - near `$.kind`",
        b"[1, 2]": "Expected `object`, got `array` - at `$`",
        b'{"kind":"parameter","value":5,4}': "JSON is malformed: object keys must be strings "
        "(byte 30) - near `$.value`",
        b'{"kind":"parameter","line":"L\xff3"}': "not UTF-8 text (byte 29) - in `$.line`",
        b"\xff{}": "not UTF-8 text (byte 0) - in `$`",
    }
    for payload, reason in cases.items():
        letter = decode(RawRecord(payload, "line.jsonl:9"))
        assert isinstance(letter, DeadLetter)
        assert letter.reason == f"line.jsonl:9: {reason}"


def test_csv_row_is_coerced_from_text() -> None:
    row = {
        "kind": "inspection",
        "ts": "2026-11-23T08:00:00+01:00",
        "line": "L3",
        "station": "final",
        "part_id": "P-1",
        "result": "fail",
        "defects": "2",
        "defect_codes": ["porosity", "spatter"],
        "rework": "false",
    }
    record = decode(RawRecord(row, "line.csv:2"))
    assert record == Inspection(
        ts=datetime(2026, 11, 23, 7, tzinfo=UTC),
        line="L3",
        station="final",
        part_id="P-1",
        result="fail",
        defects=2,
        defect_codes=["porosity", "spatter"],
        rework=False,
    )
    nan_row = {
        "kind": "measurement",
        "ts": "2026-11-23T08:00:00Z",
        "line": "L3",
        "station": "s",
        "characteristic": "d",
        "value": "nan",
    }
    letter = decode(RawRecord(nan_row, "line.csv:3"))
    assert isinstance(letter, DeadLetter)
    assert letter.reason == "line.csv:3: `value` must be a finite number, got nan"
