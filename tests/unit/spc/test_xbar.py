"""X-bar/R and X-bar/S: Montgomery's piston rings (Table 6.3/6.4), variable sizes, bad input."""

import json
import math
import statistics
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from linewatch.detectors.base import DetectorInputError
from linewatch.detectors.spc import XbarRChart, XbarSChart
from linewatch.detectors.spc.constants import c4

DATA = json.loads((Path(__file__).parent / "published_data.json").read_text())
RINGS = DATA["pistonrings"]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def run(chart: XbarRChart | XbarSChart, groups: list[list[float]]) -> list:
    stamps = [T0 + timedelta(minutes=i) for i in range(len(groups))]
    return [p for e in chart.update_many(stamps, groups) for p in e.points]


def test_piston_rings_xbar_r() -> None:
    chart = XbarRChart(phase1=25)
    points = run(chart, RINGS)
    xbar = [p for p in points if p.chart == "xbar"]
    rng = [p for p in points if p.chart == "range"]
    # Montgomery: x-double-bar = 74.001, R-bar = 0.023, UCL = 74.014, LCL = 73.988
    assert round(xbar[0].center, 3) == 74.001 and round(rng[0].center, 3) == 0.023
    assert (round(xbar[0].ucl, 3), round(xbar[0].lcl, 3)) == (74.014, 73.988)
    # qcc (pistonrings, trial samples): center 74.00118, StdDev 0.009785039
    assert round(chart.params["center"], 5) == 74.00118
    assert round(chart.params["sigma"], 9) == 0.009785039
    # exact: sigma = R-bar/d2(5); limits center +- 3 sigma/sqrt(5); R UCL = (d2 + 3 d3) sigma
    rbar = math.fsum(max(g) - min(g) for g in RINGS[:25]) / 25
    assert chart.params["sigma"] == rbar / 2.326
    assert xbar[0].ucl == 74.001176 + 3 * (rbar / 2.326) / math.sqrt(5)
    assert rng[0].ucl == 2.326 * (rbar / 2.326) + 3 * (0.864 * (rbar / 2.326))
    assert round(rng[0].ucl, 5) == 0.04812 and rng[0].lcl == 0.0
    # phase I in control; phase II (Table 6.4) beyond the UCL at samples 37, 38, 39
    assert not any(p.rules for p in points[:50])
    assert [(p.index + 1, p.chart, p.rules) for p in points if p.rules] == [
        (37, "xbar", ("nelson1",)),
        (38, "xbar", ("nelson1",)),
        (39, "xbar", ("nelson1",)),
    ]


def test_piston_rings_xbar_s() -> None:
    chart = XbarSChart(phase1=25)
    points = run(chart, RINGS)
    xbar = [p for p in points if p.chart == "xbar"]
    sd = [p for p in points if p.chart == "stdev"]
    sbar = math.fsum(statistics.stdev(g) for g in RINGS[:25]) / 25
    assert chart.params["sigma"] == sbar / c4(5)
    assert (round(xbar[0].ucl, 3), round(xbar[0].lcl, 3)) == (74.014, 73.988)
    assert sd[0].center == pytest.approx(sbar, rel=1e-15)
    b4 = 1 + 3 * math.sqrt(1 - c4(5) ** 2) / c4(5)
    assert round(b4, 3) == 2.089  # Montgomery's B4 for n = 5
    assert sd[0].ucl == pytest.approx(b4 * sbar, rel=1e-14) and sd[0].lcl == 0.0
    assert [p.index + 1 for p in points if p.rules] == [37, 38, 39]


def test_variable_sizes_per_point_limits() -> None:
    groups = [[1.0, 2.0, 3.0], [2.0, 4.0], [0.0, 1.0, 1.0, 2.0], [3.0, 1.0, 2.0]]
    chart = XbarRChart(phase1=4)
    points = run(chart, groups)
    values = [v for g in groups for v in g]
    center = math.fsum(values) / len(values)
    sizes = [3, 2, 4, 3]
    ranges = [2.0, 2.0, 2.0, 2.0]
    d2s = {2: 1.128, 3: 1.693, 4: 2.059}
    d3s = {2: 0.853, 3: 0.888, 4: 0.880}
    weights = [(d2s[n] / d3s[n]) ** 2 for n in sizes]
    sigma = math.fsum(
        w * r / d2s[n] for w, r, n in zip(weights, ranges, sizes, strict=False)
    ) / math.fsum(weights)
    assert chart.params == {"center": center, "sigma": sigma}
    xbar = [p for p in points if p.chart == "xbar"]
    assert [p.ucl for p in xbar] == [center + 3 * (sigma / math.sqrt(n)) for n in sizes]
    rng = [p for p in points if p.chart == "range"]
    assert [p.center for p in rng] == [d2s[n] * sigma for n in sizes]


def test_variable_sizes_sbar_and_pooled() -> None:
    groups = [[1.0, 2.0, 3.0], [2.0, 4.0], [0.0, 1.0, 1.0, 2.0]]
    sds = [statistics.stdev(g) for g in groups]
    sizes = [3, 2, 4]
    h = [c4(n) ** 2 / (1 - c4(n) ** 2) for n in sizes]
    chart = XbarSChart(phase1=3)
    run(chart, groups)
    assert chart.params["sigma"] == math.fsum(
        w * s / c4(n) for w, s, n in zip(h, sds, sizes, strict=False)
    ) / math.fsum(h)
    pooled = XbarSChart(phase1=3, sigma_method="pooled")
    run(pooled, groups)
    sp = math.sqrt(math.fsum((n - 1) * s * s for s, n in zip(sds, sizes, strict=False)) / 6)
    assert pooled.params["sigma"] == sp / c4(7)
    overall = XbarRChart(phase1=3, sigma_method="overall")
    run(overall, groups)
    assert overall.params["sigma"] == statistics.stdev([v for g in groups for v in g])


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ([1.0], "at least 2"),
        ([], "at least 2"),
        ([1.0, math.nan], r"subgroup\[1\]"),
        ([1.0, None], r"subgroup\[1\]"),
        (1.0, "sequence"),
        ("ab", "sequence"),
        ([1.0, math.inf, 2.0], "finite"),
        ([0.0] * 51, "at most 50"),
    ],
)
def test_bad_subgroups(bad: object, message: str) -> None:
    with pytest.raises(DetectorInputError, match=message):
        XbarRChart(phase1=2).update(T0, bad)  # type: ignore[arg-type]


def test_constant_phase1_is_an_error_not_a_zero_limit() -> None:
    chart = XbarRChart(phase1=2)
    chart.update(T0, [1.0, 1.0])
    with pytest.raises(DetectorInputError, match="sigma"):
        chart.update(T0, [2.0, 2.0])
