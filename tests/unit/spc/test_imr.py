"""I-MR: hand-computed limits, phase I semantics, versions, passes, bad input."""

import math
from datetime import UTC, datetime, timedelta

import pytest

from linewatch.detectors.base import DetectorInputError
from linewatch.detectors.spc import IMRChart, RuleSet

T0 = datetime(2026, 3, 1, tzinfo=UTC)
VALUES = [10.0, 12.0, 11.0, 13.0, 9.0, 11.0, 12.0, 10.0]


def stamps(n: int) -> list[datetime]:
    return [T0 + timedelta(minutes=i) for i in range(n)]


def test_phase1_points_and_limits() -> None:
    chart = IMRChart(phase1=8)
    outs = chart.update_many(stamps(8), VALUES)
    assert all(not e.points for e in outs[:7])
    points = outs[7].points
    ind = [p for p in points if p.chart == "individuals"]
    mr = [p for p in points if p.chart == "moving_range"]
    assert [p.index for p in ind] == list(range(8))
    assert [p.index for p in mr] == list(range(1, 8))
    assert [p.value for p in mr] == [2.0, 1.0, 2.0, 4.0, 2.0, 1.0, 2.0]
    assert [p.ts for p in ind] == stamps(8)
    sigma = 2.0 / 1.128  # MR-bar = 14/7
    assert chart.params == {"center": 11.0, "sigma": sigma}
    assert ind[0].center == 11.0
    assert ind[0].ucl == 11.0 + 3 * sigma and ind[0].lcl == 11.0 - 3 * sigma
    assert round(ind[0].ucl, 4) == 16.3191 and round(ind[0].lcl, 4) == 5.6809
    assert mr[0].center == 1.128 * sigma
    assert mr[0].ucl == 1.128 * sigma + 3 * 0.853 * sigma
    assert round(mr[0].ucl, 4) == 6.5372  # MR-bar * (1 + 3 d3/d2)
    assert mr[0].lcl == 0.0
    assert {p.limits_version for p in points} == {1}
    assert [p.zone for p in ind] == ["C", "C", "C", "B", "B", "C", "C", "C"]
    assert not outs[7].signals


def test_phase2_signals_and_index() -> None:
    chart = IMRChart(phase1=8, rules=RuleSet.nelson())
    chart.update_many(stamps(8), VALUES)
    out = chart.update(T0, 17.0)
    assert [(s.rule, s.chart, s.index) for s in out.signals] == [
        ("nelson1", "individuals", 8),
        ("nelson1", "moving_range", 8),
    ]
    assert out.points[0].rules == ("nelson1",)
    assert out.points[0].zone == "beyond"
    assert out.signals[0].description == "1 point more than 3 sigma from the center line"


def test_known_center_sigma_skips_phase1() -> None:
    chart = IMRChart(center=10.0, sigma=1.0)
    assert chart.has_limits and chart.limits_version == 1
    out = chart.update(T0, 13.5)
    assert out.points[0].ucl == 13.0 and out.points[0].limits_version == 1
    assert [s.rule for s in out.signals] == ["nelson1"]
    assert chart.limits_history[0].effective_from is None


def test_given_per_chart_limits() -> None:
    chart = IMRChart(limits={"individuals": (5.0, 2.0, 8.0), "moving_range": (1.0, 0.0, 3.5)})
    chart.update(T0, 5.0)
    out = chart.update(T0, 8.5)
    ind, mr = out.points
    assert (ind.center, ind.lcl, ind.ucl) == (5.0, 2.0, 8.0)
    assert (mr.value, mr.center, mr.lcl, mr.ucl) == (3.5, 1.0, 0.0, 3.5)
    assert [s.chart for s in out.signals] == ["individuals"]  # 3.5 is not beyond 3.5


def test_passes_drop_outliers_and_mrs() -> None:
    values = [10.0, 10.5, 9.5, 10.2, 30.0, 9.8, 10.1, 9.9, 10.3, 10.0]
    chart = IMRChart(phase1=10, phase1_passes=1)
    chart.update_many(stamps(10), values)
    kept = [v for i, v in enumerate(values) if i != 4]
    mrs = [abs(values[i] - values[i - 1]) for i in range(1, 10) if 4 not in (i, i - 1)]
    assert chart.excluded == (4,)
    assert chart.params == {
        "center": math.fsum(kept) / 9,
        "sigma": math.fsum(mrs) / len(mrs) / 1.128,
    }
    no_pass = IMRChart(phase1=10)
    no_pass.update_many(stamps(10), values)
    assert no_pass.excluded == () and no_pass.params["center"] == math.fsum(values) / 10


def test_sigma_methods() -> None:
    chart = IMRChart(phase1=8, sigma_method="overall")
    chart.update_many(stamps(8), VALUES)
    assert chart.params["sigma"] == pytest.approx(math.sqrt(12.0 / 7.0), rel=1e-15)
    chart = IMRChart(phase1=8, sigma_method="median_mr")
    chart.update_many(stamps(8), VALUES)
    assert chart.params["sigma"] == 2.0 / 0.954
    chart = IMRChart(phase1=8, constants="exact")
    chart.update_many(stamps(8), VALUES)
    assert chart.params["sigma"] == 2.0 / 1.128379167


def test_restart_phase1_makes_new_version() -> None:
    chart = IMRChart(phase1=4)
    chart.update_many(stamps(4), VALUES[:4])
    chart.restart_phase1()
    assert not chart.has_limits
    outs = chart.update_many(stamps(4), [20.0, 21.0, 22.0, 20.0])
    assert {p.limits_version for p in outs[-1].points} == {2}
    assert outs[-1].points[0].index == 4
    assert [v.version for v in chart.limits_history] == [1, 2]
    assert chart.limits_history[1].effective_from == stamps(4)[-1]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, "x", None, [1.0], {"a": 1}])
def test_bad_input(bad: object) -> None:
    with pytest.raises(DetectorInputError):
        IMRChart(phase1=3).update(T0, bad)  # type: ignore[arg-type]


def test_constructor_errors() -> None:
    with pytest.raises(ValueError, match="phase1"):
        IMRChart(phase1=1)
    with pytest.raises(ValueError, match="sigma_method"):
        IMRChart(sigma_method="rbar")
    with pytest.raises(ValueError, match="limits"):
        IMRChart(limits={"individuals": (0.0, -1.0, 1.0)})


def test_k_sigma_scales_the_limits() -> None:
    chart = IMRChart(phase1=5, k_sigma=2.0)
    chart.update_many(stamps(5), [1.0, 2.0, 1.0, 2.0, 1.0])
    assert chart.update(T0, 1.5).points[0].ucl == 1.4 + 2.0 * (1.0 / 1.128)
