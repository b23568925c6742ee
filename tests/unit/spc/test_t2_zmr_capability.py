"""Hotelling T², Z-MR and capability: closed forms and hand-computed cases."""

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from scipy import stats

from linewatch.detectors.base import DetectorInputError
from linewatch.detectors.spc import CapabilityChart, HotellingT2Chart, ZMRChart, capability
from linewatch.detectors.spc.hotelling import t2_limits

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ROWS = [
    (10.0, 5.0),
    (11.0, 6.0),
    (9.5, 4.0),
    (10.5, 5.5),
    (12.0, 7.0),
    (9.0, 4.5),
    (10.2, 5.1),
    (11.5, 5.9),
]


def run(chart, xs):  # type: ignore[no-untyped-def]
    return chart.update_many([T0 + timedelta(minutes=i) for i in range(len(xs))], xs)


def test_t2_phase1_values_and_beta_limit() -> None:
    chart = HotellingT2Chart(names=("a", "b"), phase1=8)
    out = run(chart, [{"a": a, "b": b} for a, b in ROWS])
    x = np.array(ROWS)
    centred = x - x.mean(axis=0)
    cov = centred.T @ centred / 7
    expected = [float(d @ np.linalg.solve(cov, d)) for d in centred]
    points = out[-1].points
    assert [p.value for p in points] == pytest.approx(expected, rel=1e-12)
    # p = 2: Beta(1, b) has the closed-form quantile 1 - alpha**(1/b)
    m, b = 8, (8 - 2 - 1) / 2
    assert points[0].ucl == pytest.approx((m - 1) ** 2 / m * (1 - 0.0027 ** (1 / b)), rel=1e-12)
    assert sum(p.value for p in points) == pytest.approx((m - 1) * 2, rel=1e-12)  # trace identity
    phase2 = chart.update(T0, {"a": 10.0, "b": 5.0}).points[0]
    f = stats.f.ppf(1 - 0.0027, 2, 6)
    assert phase2.ucl == pytest.approx(2 * 9 * 7 / (64 - 16) * f, rel=1e-12)


def test_t2_known_parameters_chi_square() -> None:
    chart = HotellingT2Chart(
        names=("a", "b"), mean={"a": 0.0, "b": 0.0}, covariance=[[1.0, 0.5], [0.5, 1.0]]
    )
    out = chart.update(T0, {"a": 3.0, "b": -3.0, "ignored": 1.0})
    point = out.points[0]
    assert point.value == pytest.approx(
        np.array([3, -3]) @ np.linalg.solve(np.array([[1, 0.5], [0.5, 1]]), np.array([3, -3])),
        rel=1e-12,
    )  # = 36
    assert point.ucl == pytest.approx(-2 * math.log(0.0027), rel=1e-12)
    assert [s.rule for s in out.signals] == ["t2"]


def test_t2_limits_function() -> None:
    limits = t2_limits(30, 2, 0.0027)
    assert limits["phase1_ucl"] == pytest.approx(29**2 / 30 * (1 - 0.0027 ** (1 / 13.5)))


def test_t2_bad_input() -> None:
    chart = HotellingT2Chart(names=("a", "b"), phase1=4)
    with pytest.raises(DetectorInputError, match="missing"):
        chart.update(T0, {"a": 1.0})
    with pytest.raises(DetectorInputError, match="finite"):
        chart.update(T0, {"a": 1.0, "b": math.nan})
    constant = HotellingT2Chart(names=("a", "b"), phase1=4)
    run(constant, [{"a": float(i), "b": 1.0} for i in range(3)])
    with pytest.raises(DetectorInputError, match="singular"):
        constant.update(T0, {"a": 4.0, "b": 1.0})


def test_zmr_by_part_and_pooled() -> None:
    obs = [("A", 10.0), ("B", 20.0), ("A", 11.0), ("B", 23.0), ("A", 10.5), ("B", 21.0)]
    data = [{"part": p, "value": v} for p, v in obs]
    chart = ZMRChart(phase1=6)
    out = run(chart, data)
    sig_a, sig_b = (1.0 + 0.5) / 2 / 1.128, (3.0 + 2.0) / 2 / 1.128
    assert chart.params == {"parts": {"A": [31.5 / 3, sig_a], "B": [64.0 / 3, sig_b]}}
    z = [p.value for p in out[-1].points if p.chart == "z"]
    assert z == [
        (10.0 - 10.5) / sig_a,
        (20.0 - 64 / 3) / sig_b,
        (11.0 - 10.5) / sig_a,
        (23.0 - 64 / 3) / sig_b,
        0.0,
        (21.0 - 64 / 3) / sig_b,
    ]
    mr = [p for p in out[-1].points if p.chart == "moving_range"]
    assert mr[0].index == 1 and mr[0].value == abs(z[1] - z[0])
    assert (mr[0].center, mr[0].ucl) == (1.128, 1.128 + 3 * 0.853)
    pooled = ZMRChart(phase1=6, sigma_method="pooled")
    run(pooled, data)
    assert pooled.params["parts"]["A"][1] == (1.0 + 0.5 + 3.0 + 2.0) / 4 / 1.128
    with pytest.raises(DetectorInputError, match="'C'"):
        chart.update(T0, {"part": "C", "value": 1.0})
    assert chart.update(T0, {"part": "A", "value": 10.5}).points[0].index == 6


def test_zmr_part_needs_two_values() -> None:
    chart = ZMRChart(phase1=3)
    run(chart, [{"part": "A", "value": 1.0}, {"part": "A", "value": 2.0}])
    with pytest.raises(DetectorInputError, match="'B' needs at least 2"):
        chart.update(T0, {"part": "B", "value": 5.0})


def test_capability_formulas() -> None:
    values = [9.8, 10.4, 10.1, 9.6, 10.0, 10.3, 9.9, 10.2, 9.7, 10.1]
    n = len(values)
    result = capability(values, lsl=9.0, usl=11.5, target=10.25)
    mean = sum(values) / n
    sw = sum(abs(values[i] - values[i - 1]) for i in range(1, n)) / (n - 1) / 1.128
    so = float(np.std(values, ddof=1))
    idx = result.indices
    assert idx["cp"].value == pytest.approx(2.5 / (6 * sw), rel=1e-14)
    assert idx["cpk"].value == pytest.approx(min(11.5 - mean, mean - 9.0) / (3 * sw), rel=1e-14)
    assert idx["pp"].value == pytest.approx(2.5 / (6 * so), rel=1e-14)
    assert idx["ppk"].value == pytest.approx((mean - 9.0) / (3 * so), rel=1e-14)
    cp = idx["cp"].value
    assert idx["cp"].lower == pytest.approx(cp * math.sqrt(stats.chi2.ppf(0.025, 9) / 9))
    assert idx["cp"].upper == pytest.approx(cp * math.sqrt(stats.chi2.ppf(0.975, 9) / 9))
    cpk = idx["cpk"].value
    half = 1.959963984540054 * math.sqrt(1 / 90 + cpk**2 / 18)
    assert (idx["cpk"].lower, idx["cpk"].upper) == pytest.approx((cpk - half, cpk + half))
    a = (mean - 10.25) / sw
    assert idx["cpm"].value == pytest.approx(2.5 / (6 * math.sqrt(sw**2 + (mean - 10.25) ** 2)))
    nu = n * (1 + a * a) ** 2 / (1 + 2 * a * a)
    assert idx["cpm"].lower == pytest.approx(
        idx["cpm"].value * math.sqrt(stats.chi2.ppf(0.025, nu) / nu)
    )
    one_sided = capability(values, usl=11.5)
    assert set(one_sided.indices) == {"cpu", "cpk", "ppk"}


def test_capability_chart_windows() -> None:
    chart = CapabilityChart(lsl=9.0, usl=11.5, window=10, min_cpk=2.0)
    values = [9.8, 10.4, 10.1, 9.6, 10.0, 10.3, 9.9, 10.2, 9.7, 10.1]
    out = run(chart, values + values)
    assert [len(e.points) for e in out].count(4) == 2
    points = {p.chart: p for p in out[9].points}
    expected = capability(values, lsl=9.0, usl=11.5).indices
    for name in ("cp", "cpk", "pp", "ppk"):
        assert points[name].value == pytest.approx(expected[name].value, rel=1e-12)
        assert points[name].lcl == pytest.approx(expected[name].lower, rel=1e-12)
    assert [s.rule for s in out[9].signals] == ["capability"]  # Cpk 1.43 < 2
    assert out[19].points[0].index == 1
