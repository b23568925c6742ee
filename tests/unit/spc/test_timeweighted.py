"""CUSUM (Montgomery Table 9.1/9.2) and EWMA (NIST 6.3.2.4; Montgomery's lambda=0.1, L=2.7)."""

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from linewatch.detectors.base import DetectorInputError
from linewatch.detectors.spc import CusumChart, EwmaChart

DATA = json.loads((Path(__file__).parent / "published_data.json").read_text())
T0 = datetime(2026, 1, 1, tzinfo=UTC)
X30 = DATA["cusum30"]

# Montgomery Table 9.2 (k = 0.5, h = 5, mu0 = 10, sigma = 1), C+ and C- printed to 2 dp
C_PLUS = [
    0.00,
    0.00,
    0.00,
    1.16,
    2.82,
    2.50,
    0.04,
    1.00,
    0.00,
    0.00,
    0.00,
    0.97,
    0.98,
    0.00,
    0.00,
    0.00,
    0.12,
    0.00,
    0.00,
    0.34,
    0.74,
    0.00,
    1.79,
    2.79,
    2.89,
    3.47,
    3.35,
    4.47,
    5.28,
    5.30,
]
C_MINUS = [
    0.05,
    1.56,
    1.77,
    0.00,
    0.00,
    0.00,
    1.46,
    0.00,
    0.30,
    0.00,
    0.47,
    0.00,
    0.00,
    0.10,
    0.00,
    0.13,
    0.00,
    0.00,
    0.98,
    0.00,
    0.00,
    0.17,
    0.00,
    0.00,
    0.00,
    0.00,
    0.00,
    0.00,
    0.00,
    0.00,
]


def run(chart, xs):  # type: ignore[no-untyped-def]
    return chart.update_many([T0 + timedelta(minutes=i) for i in range(len(xs))], xs)


def test_montgomery_tabular_cusum() -> None:
    out = run(CusumChart(target=10.0, sigma=1.0, k=0.5, h=5.0), X30)
    upper = [e.points[0].value for e in out]
    lower = [-e.points[1].value for e in out]
    assert [round(v, 2) for v in upper] == C_PLUS
    assert [round(v, 2) + 0.0 for v in lower] == C_MINUS
    # first signal at period 29 (C+ = 5.28 > H = 5), and again at 30
    assert [(s.rule, s.index + 1) for e in out for s in e.signals] == [
        ("cusum_upper", 29),
        ("cusum_upper", 30),
    ]
    assert out[28].points[0].ucl == 5.0 and out[28].points[1].lcl == -5.0


def test_cusum_exact_recursion_and_fir_reset() -> None:
    chart = CusumChart(target=0.0, sigma=2.0, k=0.5, h=4.0, headstart=0.5, reset_on_signal=True)
    xs = [3.0, 4.0, 6.0, 0.0]
    values = [e.points[0].value for e in run(chart, xs)]
    # z = x/2; C+ starts at 2.0 (FIR h/2): 3.0, then 4.5 > h signals and restarts at 2.0
    assert values == [2.0 + 1.5 - 0.5, 3.0 + 2.0 - 0.5, 2.0 + 3.0 - 0.5, 2.0 + 0.0 - 0.5]


def test_cusum_subgroup_means() -> None:
    chart = CusumChart(target=10.0, sigma=2.0, k=0.5, h=5.0)
    point = chart.update(T0, [11.0, 13.0, 12.0, 12.0]).points[0]
    assert point.value == (12.0 - 10.0) / (2.0 / 2.0) - 0.5


def test_cusum_phase1_estimates() -> None:
    chart = CusumChart(phase1=30)
    out = run(chart, X30)
    mrs = [abs(X30[i] - X30[i - 1]) for i in range(1, 30)]
    assert chart.params == {"target": math.fsum(X30) / 30, "sigma": math.fsum(mrs) / 29 / 1.128}
    assert len(out[-1].points) == 60


def test_nist_ewma_example() -> None:
    chart = EwmaChart(lam=0.3, L=3.0, target=50.0, sigma=2.0539, steady_state=True)
    out = run(chart, DATA["nist_ewma_data"])
    assert [round(e.points[0].value, 2) for e in out] == DATA["nist_ewma_printed"]
    # printed: UCL = 52.5884, LCL = 47.4115 (the page truncates sqrt(.3/1.7) to 0.4201)
    assert round(out[0].points[0].ucl, 4) == 52.5884
    assert out[0].points[0].lcl == pytest.approx(47.4115, abs=1e-4)
    assert not any(e.signals for e in out)  # "all EWMA points are within the control limits"


def test_montgomery_ewma_exact_limits() -> None:
    lam, big_l = 0.1, 2.7
    out = run(EwmaChart(lam=lam, L=big_l, target=10.0, sigma=1.0), X30)
    z, zs = 10.0, []
    for x in X30:
        z = lam * x + (1 - lam) * z
        zs.append(z)
    assert [e.points[0].value for e in out] == zs
    for i, e in enumerate(out, start=1):
        exact = big_l * math.sqrt(lam / (2 - lam) * (1 - (1 - lam) ** (2 * i)))
        assert e.points[0].ucl == pytest.approx(10.0 + exact, abs=1e-14)
    assert round(out[0].points[0].ucl, 4) == 10.27 and round(out[0].points[0].lcl, 4) == 9.73
    assert [e.points[0].index + 1 for e in out if e.signals] == [29, 30]


def test_ewma_variable_subgroup_variance() -> None:
    chart = EwmaChart(lam=0.5, L=3.0, target=0.0, sigma=2.0)
    first = chart.update(T0, [1.0, 3.0, 2.0, 2.0]).points[0]
    second = chart.update(T0, [0.0]).points[0]
    assert first.value == 1.0 and second.value == 0.5
    assert first.ucl == 3.0 * math.sqrt(0.25 * 4.0 / 4)
    assert second.ucl == 3.0 * math.sqrt(0.25 * 0.25 * 1.0 + 0.25 * 4.0 / 1)


@pytest.mark.parametrize("bad", [math.nan, [], [1.0, math.inf], {"a": 1.0}, "1"])
def test_bad_input(bad: object) -> None:
    for chart in (CusumChart(target=0.0, sigma=1.0), EwmaChart(target=0.0, sigma=1.0)):
        with pytest.raises(DetectorInputError):
            chart.update(T0, bad)  # type: ignore[arg-type]


def test_parameter_errors() -> None:
    with pytest.raises(ValueError, match="lam"):
        EwmaChart(lam=0.0)
    with pytest.raises(ValueError, match="h > 0"):
        CusumChart(h=0.0)
    with pytest.raises(ValueError, match="headstart"):
        CusumChart(headstart=1.0)
