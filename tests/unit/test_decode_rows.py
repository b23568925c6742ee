"""Rows (CSV and Parquet dicts) decode to their kind's type directly: the same records and
the same dead-letter reasons as through the tagged union, which the fast path replaces."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from linewatch.pipeline.decode import decode
from linewatch.pipeline.models import DeadLetter, RawRecord, WireRecord

TS = datetime(2026, 11, 23, 8, tzinfo=UTC)
GOOD = {"ts": TS, "line": "L3", "station": "weld-2"}
ROWS: list[dict[str, Any]] = [
    {"kind": "measurement", **GOOD, "characteristic": "gap", "value": 1.5},
    {"kind": "measurement", **GOOD, "characteristic": "gap", "value": "1.5"},  # a CSV cell
    {"kind": "measurement", **GOOD, "characteristic": "gap", "value": "wide"},
    {"kind": "measurement", **GOOD, "characteristic": "gap"},
    {"kind": "measurement", **GOOD, "characteristic": "g/ap", "value": 1.0},
    {"kind": "parameter", **GOOD, "equipment": "w7", "name": "t", "value": float("nan")},
    {"kind": "inspection", **GOOD, "part_id": "P1", "result": "fail", "defect_codes": ["x"]},
    {"kind": "inspection", **GOOD, "part_id": "P1", "result": "maybe"},
    {"kind": "attribute", **GOOD, "characteristic": "p", "inspected": 5, "nonconforming": 6},
    {"kind": "attribute", **GOOD, "characteristic": "p", "inspected": "5", "nonconforming": 1},
    {"kind": "measurement", "ts": "2026-11-23T08:00:00", "line": "L3", "station": "s"},
    {"kind": "weather", **GOOD},
    {"kind": ["measurement"], **GOOD},
    {**GOOD, "characteristic": "gap", "value": 1.0},  # no kind
]


def _through_union(payload: dict[str, Any]) -> WireRecord | str:
    try:
        record: WireRecord = msgspec.convert(payload, WireRecord, strict=False)
    except (msgspec.ValidationError, ValueError, TypeError) as exc:
        return f"row: {exc}"
    return record


@pytest.mark.parametrize("payload", ROWS)
def test_a_row_decodes_as_through_the_union(payload: dict[str, Any]) -> None:
    result = decode(RawRecord(payload=payload, origin="row"))
    expected = _through_union(payload)
    if isinstance(expected, str):
        assert isinstance(result, DeadLetter) and result.reason == expected
    else:
        assert result == expected and type(result) is type(expected)
