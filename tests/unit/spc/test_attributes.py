"""p, np, c, u, Laney p'/u': Montgomery's orange-juice and circuit-board data, hand cases."""

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from linewatch.detectors.base import DetectorInputError
from linewatch.detectors.spc import CChart, LaneyPChart, LaneyUChart, NPChart, PChart, UChart

DATA = json.loads((Path(__file__).parent / "published_data.json").read_text())
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def run(chart, observations):  # type: ignore[no-untyped-def]
    stamps = [T0 + timedelta(minutes=i) for i in range(len(observations))]
    return [p for e in chart.update_many(stamps, observations) for p in e.points]


JUICE = [{"count": c, "size": 50} for c in DATA["orangejuice_D"]]
CIRCUIT = [{"count": c} for c in DATA["circuit"]]


def test_orange_juice_p_chart() -> None:
    chart = PChart(phase1=30)
    points = run(chart, JUICE[:30])
    # Montgomery: p-bar = 0.2313, UCL = 0.4102, LCL = 0.0524; samples 15 and 23 above UCL
    assert chart.params == {"center": 347 / 1500, "max_size": 1000 * 50.0}
    assert (round(points[0].center, 4), round(points[0].ucl, 4), round(points[0].lcl, 4)) == (
        0.2313,
        0.4102,
        0.0524,
    )
    assert [p.index + 1 for p in points if p.rules] == [15, 23]


def test_orange_juice_revised_limits() -> None:
    # Montgomery drops samples 15 and 23 (assignable causes): p-bar = 0.2150,
    # UCL = 0.3893, LCL = 0.0407; sample 21 is then above the revised UCL.
    chart = PChart(phase1=30, phase1_passes=1)
    points = run(chart, JUICE[:30])
    assert chart.excluded == (14, 22)
    assert chart.params == {"center": 301 / 1400, "max_size": 1000 * 50.0}
    assert (round(points[0].ucl, 4), round(points[0].lcl, 4)) == (0.3893, 0.0407)
    assert [p.index + 1 for p in points if p.rules] == [15, 21, 23]


def test_circuit_board_c_chart() -> None:
    chart = CChart(phase1=26)
    points = run(chart, CIRCUIT[:26])
    # Montgomery: c-bar = 19.85, UCL = 33.22, LCL = 6.48; samples 6 and 20 out of control
    assert chart.params == {"center": 516 / 26}
    assert round(points[0].center, 2) == 19.85 and round(points[0].lcl, 2) == 6.48
    assert points[0].ucl == 516 / 26 + 3 * math.sqrt(516 / 26)  # 33.2115: the book rounds
    assert round(CChart(center=19.85).update(T0, {"count": 1}).points[0].ucl, 2) == 33.22
    assert [p.index + 1 for p in points if p.rules] == [6, 20]
    revised = CChart(phase1=26, phase1_passes=1)
    run(revised, CIRCUIT[:26])
    # Montgomery's revised limits without samples 6 and 20: 19.67, 32.97, 6.36
    assert revised.excluded == (5, 19)
    p = revised.update(T0, {"count": 20}).points[0]
    assert (round(p.center, 2), round(p.ucl, 2), round(p.lcl, 2)) == (19.67, 32.97, 6.36)


def test_variable_size_p_np_u() -> None:
    obs = [{"count": 3, "size": 50}, {"count": 10, "size": 200}, {"count": 2, "size": 25}]
    pbar = 15 / 275
    p_points = run(PChart(phase1=3), obs)
    assert [p.ucl for p in p_points] == [
        pbar + 3 * math.sqrt(pbar * (1 - pbar) / n) for n in (50, 200, 25)
    ]
    assert [p.lcl for p in p_points] == [
        max(0.0, pbar - 3 * math.sqrt(pbar * (1 - pbar) / n)) for n in (50, 200, 25)
    ]
    assert p_points[2].lcl == 0.0
    np_points = run(NPChart(phase1=3), obs)
    assert [p.value for p in np_points] == [3, 10, 2]
    assert [p.center for p in np_points] == [n * pbar for n in (50, 200, 25)]
    u_points = run(UChart(phase1=2), [{"count": 4, "size": 2.5}, {"count": 9, "size": 4.0}])
    ubar = 13 / 6.5
    assert [p.value for p in u_points] == [1.6, 2.25]
    assert [p.ucl for p in u_points] == [ubar + 3 * math.sqrt(ubar / n) for n in (2.5, 4.0)]


def test_p_upper_limit_clipped_at_one() -> None:
    point = PChart(center=0.5).update(T0, {"count": 1, "size": 2}).points[0]
    assert point.ucl == 1.0 and point.lcl == 0.0


def test_laney_p_hand_computed() -> None:
    obs = [
        {"count": c, "size": n}
        for c, n in [(50, 1000), (80, 1000), (45, 1200), (90, 1100), (60, 1000)]
    ]
    counts = [50, 80, 45, 90, 60]
    sizes = [1000, 1000, 1200, 1100, 1000]
    pbar = sum(counts) / sum(sizes)
    sig = [math.sqrt(pbar * (1 - pbar) / n) for n in sizes]
    z = [(c / n - pbar) / s for c, n, s in zip(counts, sizes, sig, strict=False)]
    sigma_z = sum(abs(z[i] - z[i - 1]) for i in range(1, 5)) / 4 / 1.128
    chart = LaneyPChart(phase1=5)
    points = run(chart, obs)
    assert chart.params == {"center": pbar, "sigma_z": sigma_z, "max_size": 1000 * 1000.0}
    assert [p.ucl for p in points] == [pbar + 3 * (s * sigma_z) for s in sig]
    assert sigma_z > 1  # over-dispersed: wider than the p chart's limits
    assert not any(p.rules for p in points)
    assert [p.index for p in run(PChart(phase1=5), obs) if p.rules] == [2]  # 0.0375 < 0.0405


def test_laney_u_given_sigma_z() -> None:
    chart = LaneyUChart(center=2.0, sigma_z=1.5)
    point = chart.update(T0, {"count": 30, "size": 10.0}).points[0]
    assert point.value == 3.0
    assert point.ucl == 2.0 + 3 * (math.sqrt(2.0 / 10.0) * 1.5)


@pytest.mark.parametrize(
    ("chart", "bad", "message"),
    [
        (PChart, {"count": 11, "size": 10}, "exceeds"),
        (PChart, {"count": 1, "size": 0}, "positive"),
        (PChart, {"count": 1, "size": -5}, "positive"),
        (PChart, {"count": -1, "size": 5}, "whole"),
        (PChart, {"count": 1.5, "size": 5}, "whole"),
        (PChart, {"count": 1, "size": 5.5}, "whole"),
        (PChart, {"count": math.nan, "size": 5}, "finite"),
        (PChart, {"count": 1}, "size"),
        (PChart, 3, "expected"),
        (UChart, {"count": 2, "size": math.inf}, "finite"),
        (NPChart, {"count": 6, "size": 5}, "exceeds"),
        (CChart, {"size": 3}, "count"),
    ],
)
def test_bad_counts(chart, bad, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DetectorInputError, match=message):
        chart(phase1=3).update(T0, bad)


def test_degenerate_phase1_is_an_error() -> None:
    chart = PChart(phase1=2)
    chart.update(T0, {"count": 0, "size": 10})
    with pytest.raises(DetectorInputError, match="p-bar"):
        chart.update(T0, {"count": 0, "size": 10})
