"""The root-cause series collector: epoch-aligned bins, merging when the span grows, bounds."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from linewatch.pipeline.models import Attribute, Inspection, Measurement, Parameter
from linewatch.pipeline.rootcause_data import SeriesCollector

T0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)  # epoch minute 29,893,320: an even bin


def _param(seconds: float, value: float) -> Parameter:
    return Parameter(
        ts=T0 + timedelta(seconds=seconds),
        line="L3",
        station="weld-2",
        equipment="welder-07",
        name="tip_temp_c",
        value=value,
    )


def test_values_are_averaged_per_minute_bin() -> None:
    c = SeriesCollector()
    for seconds, value in ((10, 1.0), (50, 3.0), (60, 5.0), (185, 7.0)):
        c.add(_param(seconds, value))
    key = ("L3", "weld-2", "welder-07/tip_temp_c")
    assert c.bins() == 4
    assert c.start() == T0.timestamp()
    means = c.means(key)
    assert means[:2] == [2.0, 5.0] and math.isnan(means[2]) and means[3] == 7.0


def test_inspections_count_parts_and_each_defect_code_once_a_part() -> None:
    c = SeriesCollector()
    for seconds, codes in ((5, ["porosity", "porosity"]), (30, []), (70, ["spatter"])):
        c.add(
            Inspection(
                ts=T0 + timedelta(seconds=seconds),
                line="L3",
                station="final",
                part_id=f"P{seconds}",
                result="fail" if codes else "pass",
                defects=len(codes),
                defect_codes=codes,
            )
        )
    c.add(
        Attribute(
            ts=T0 + timedelta(seconds=90),
            line="L3",
            station="final",
            characteristic="crack",
            inspected=200,
            nonconforming=2,
        )
    )
    assert c.total(("L3", "final", "parts")) == [2.0, 1.0]
    assert c.total(("L3", "final", "#porosity")) == [1.0, 0.0]
    assert c.total(("L3", "final", "#spatter")) == [0.0, 1.0]
    bins = c.attributes[("L3", "final", "crack")]
    assert c.dense(bins, 0)[1:] == [200.0] and c.dense(bins, 1)[1:] == [2.0]


def test_a_long_span_doubles_the_bin_width_and_merges_sums() -> None:
    c = SeriesCollector(bin_s=60.0, max_bins=4)
    for minute in range(5):  # minute 4 makes a span of 5 bins > 4: merge to 2 minutes
        c.add(_param(60 * minute + 1, float(minute)))
    assert c.bin_s == 120.0
    assert c.means(("L3", "weld-2", "welder-07/tip_temp_c")) == [0.5, 2.5, 4.0]
    for minute in range(5, 16):  # 16 minutes = 8 bins of 2 > 4: merge again to 4 minutes
        c.add(_param(60 * minute + 1, float(minute)))
    assert c.bin_s == 240.0
    assert c.means(("L3", "weld-2", "welder-07/tip_temp_c")) == [1.5, 5.5, 9.5, 13.5]


def test_streams_beyond_the_bound_are_counted_not_kept_and_bad_settings_say_so() -> None:
    c = SeriesCollector(max_streams=1)
    c.add(_param(0, 1.0))
    c.add(Measurement(ts=T0, line="L3", station="trim", characteristic="gap", value=1.0))
    assert list(c.values) == [("L3", "weld-2", "welder-07/tip_temp_c")] and c.dropped == 1
    with pytest.raises(ValueError, match=r"bin_s must be positive, got 0\.0"):
        SeriesCollector(bin_s=0.0)
    with pytest.raises(ValueError, match="max_bins must be at least 2, got 1"):
        SeriesCollector(max_bins=1)
