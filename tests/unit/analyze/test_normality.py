"""Anderson-Darling: scipy's statistic, Minitab's (D'Agostino & Stephens) p-value."""

import json
import math
import statistics
from pathlib import Path

import pytest

from linewatch.pipeline.analyze_normality import ad_p_value, anderson_darling

DATA = json.loads((Path(__file__).parents[1] / "spc" / "published_data.json").read_text())


@pytest.mark.parametrize(
    ("statistic", "n", "adjusted", "p_value"),
    [
        # each branch of table 4.9, evaluated by hand from AD* = AD (1 + 0.75/n + 2.25/n^2)
        (0.1, 20, 0.1043125, 0.9951085267),  # AD* < 0.2: 1 - exp(-13.436 + 101.14a - 223.73a^2)
        (0.25, 20, 0.26078125, 0.7088162654),  # 0.2 <= AD* < 0.34
        (0.5, 50, 0.50795, 0.1995129227),  # 0.34 <= AD* < 0.6: exp(0.9177 - 4.279a - 1.38a^2)
        (1.0, 30, 1.0275, 0.0105391284),  # AD* >= 0.6: exp(1.2937 - 5.709a + 0.0186a^2)
        (3.0, 100, 3.023175, 1.380555419e-07),
    ],
)
def test_p_value_by_branch(statistic: float, n: int, adjusted: float, p_value: float) -> None:
    got_adjusted, got_p = ad_p_value(statistic, n)
    assert got_adjusted == pytest.approx(adjusted, rel=1e-12)
    assert got_p == pytest.approx(p_value, rel=1e-9)


def test_p_value_is_nearly_continuous_at_the_branch_edges() -> None:
    # the published fit joins its pieces to within 0.005 (a check that no branch is mistyped)
    for edge in (0.2, 0.34, 0.6):
        below = ad_p_value(edge * (1 - 1e-9), 10**9)[1]
        above = ad_p_value(edge * (1 + 1e-9), 10**9)[1]
        assert abs(below - above) < 0.005, edge


def test_far_tail_is_zero_not_rising_again() -> None:
    assert ad_p_value(20.0, 50)[1] == 0.0
    assert ad_p_value(200.0, 50)[1] == 0.0
    with pytest.raises(ValueError, match="at least 3 values"):
        ad_p_value(0.5, 2)


def _ad_by_hand(values: list[float]) -> float:
    """A^2 = -n - (1/n) sum (2i-1) [ln F(x_(i)) + ln(1 - F(x_(n+1-i)))], F = N(mean, s)."""
    x = sorted(values)
    n = len(x)
    mean, s = statistics.fmean(x), statistics.stdev(x)
    cdf = [0.5 * math.erfc(-(v - mean) / (s * math.sqrt(2))) for v in x]
    total = sum((2 * i + 1) * (math.log(cdf[i]) + math.log(1 - cdf[n - 1 - i])) for i in range(n))
    return -n - total / n


def test_statistic_against_the_formula() -> None:
    for values in (DATA["cusum30"], [v for g in DATA["pistonrings"] for v in g]):
        result = anderson_darling(values)
        assert result.statistic == pytest.approx(_ad_by_hand(values), rel=1e-10)
        assert result.p_value == ad_p_value(result.statistic, len(values))[1]
    ten = anderson_darling([float(i) for i in range(1, 11)])
    assert round(ten.statistic, 4) == 0.1411 and round(ten.p_value, 4) == 0.9567


def test_refuses_what_it_cannot_test() -> None:
    with pytest.raises(ValueError, match="not all equal"):
        anderson_darling([2.0, 2.0, 2.0])
    with pytest.raises(ValueError, match="at least 3"):
        anderson_darling([1.0, 2.0])
