"""``PhaseIChart.seed_limits``: a chart judges from its first observation, under the given version."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from linewatch.detectors.spc.attributes import PChart
from linewatch.detectors.spc.imr import IMRChart
from linewatch.detectors.spc.xbar import XbarRChart

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def test_seeded_imr_judges_the_first_value_and_keeps_the_version() -> None:
    chart = IMRChart(phase1=25)
    assert chart.phase1_progress == (0, 25)
    chart.update(T0, 1.0)
    assert chart.phase1_progress == (1, 25)
    chart.seed_limits({"center": 10.0, "sigma": 1.0}, T0, version=3)
    assert chart.phase1_progress == (0, 0) and chart.has_limits
    first = chart.update(T0 + timedelta(minutes=1), 13.5)  # the phase-I value is dropped
    [point] = first.points
    assert (point.index, point.value, point.center, point.ucl, point.lcl) == (
        0,
        13.5,
        10.0,
        13.0,
        7.0,
    )
    assert point.limits_version == 3 and point.rules == ("nelson1",)
    assert [v.version for v in chart.limits_history] == [3]
    assert chart.limits_history[0].effective_from == T0
    # The seeded state survives a snapshot round trip: the next point is the same.
    twin = chart.clone()
    twin.restore(chart.snapshot())
    ts = T0 + timedelta(minutes=2)
    assert twin.update(ts, 9.0) == chart.update(ts, 9.0)


def test_seeded_xbar_r_and_p_charts_use_the_given_parameters() -> None:
    xbar = XbarRChart(phase1=25)
    xbar.seed_limits({"center": 5.0, "sigma": 0.5}, T0, version=1)
    points = {p.chart: p for p in xbar.update(T0, [5.0, 5.5, 4.5, 5.0]).points}
    assert points["xbar"].ucl == pytest.approx(5.0 + 3 * 0.5 / 2)  # sigma / sqrt(4)
    assert points["range"].center == pytest.approx(2.059 * 0.5)  # d2(4) sigma
    p = PChart(phase1=25)
    p.seed_limits({"center": 0.02}, T0, version=2)
    [point] = p.update(T0, {"count": 9, "size": 100}).points
    assert point.ucl == pytest.approx(0.02 + 3 * (0.02 * 0.98 / 100) ** 0.5)
    assert point.rules == ("nelson1",) and point.limits_version == 2


def test_seed_refuses_version_zero() -> None:
    with pytest.raises(ValueError, match="counts from 1"):
        IMRChart().seed_limits({"center": 0.0, "sigma": 1.0}, None, version=0)
