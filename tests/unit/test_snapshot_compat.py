"""A snapshot taken before a constructor parameter was added still restores, when the
parameter is at its default (its absence meant the default's behaviour)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from linewatch.detectors.base import SnapshotError
from linewatch.detectors.spc.xbar import XbarRChart

START = datetime(2026, 11, 2, tzinfo=UTC)


def trained() -> XbarRChart:
    chart = XbarRChart(phase1=5)
    for i in range(30):
        chart.update(START + timedelta(minutes=i), [10.0 + (i % 3) * 0.1, 10.1, 9.9])
    return chart


def test_a_snapshot_without_a_later_default_parameter_restores_bit_identically() -> None:
    chart = trained()
    old = json.loads(chart.snapshot())
    del old["params"]["convention"]  # as written before ``convention`` existed
    restored = XbarRChart(phase1=5)
    restored.restore(json.dumps(old).encode())
    assert restored.snapshot() == chart.snapshot()


def test_a_snapshot_with_another_value_is_still_refused() -> None:
    old = json.loads(trained().snapshot())
    old["params"]["convention"] = "qcc"
    with pytest.raises(SnapshotError, match="does not match"):
        XbarRChart(phase1=5).restore(json.dumps(old).encode())


def test_a_parameter_not_at_its_default_must_be_in_the_snapshot() -> None:
    chart = XbarRChart(phase1=5, convention="qcc")
    old = json.loads(chart.snapshot())
    del old["params"]["convention"]
    with pytest.raises(SnapshotError, match="does not match"):
        XbarRChart(phase1=5, convention="qcc").restore(json.dumps(old).encode())
