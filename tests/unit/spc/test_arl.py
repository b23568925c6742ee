"""In-control ARLs against closed forms, published tables and hand-computed tails."""

import math

import pytest

from linewatch.detectors.spc.arl import (
    attribute_exceedance,
    cusum_arl,
    ewma_arl,
    range_cdf,
    range_exceedance,
    rules_arl,
    shewhart_arl,
    stdev_exceedance,
)
from linewatch.detectors.spc.rules import RuleSet


def _phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def test_shewhart_arl_is_one_over_the_two_tails() -> None:
    assert shewhart_arl(3.0) == pytest.approx(1.0 / (2.0 * (1.0 - _phi(3.0))), rel=1e-12)
    assert shewhart_arl(3.0) == pytest.approx(370.398, abs=1e-3)
    # a 1-sigma shift: 1 / (P(Z > 2) + P(Z < -4))
    assert shewhart_arl(3.0, 1.0) == pytest.approx(1.0 / (1 - _phi(2.0) + _phi(-4.0)), rel=1e-12)


@pytest.mark.parametrize("w", [0.3, 1.0, 1.128, 2.5, 4.0])
def test_range_of_two_is_root_two_times_a_half_normal(w: float) -> None:
    # R = |X1 - X2| = sqrt(2)|Z|: P(R <= w) = 2 Phi(w / sqrt 2) - 1
    assert range_cdf(w, 2) == pytest.approx(2.0 * _phi(w / math.sqrt(2.0)) - 1.0, abs=1e-10)


def test_r_chart_false_alarm_rate_for_subgroups_of_five() -> None:
    # Montgomery (Introduction to SPC, 6th ed., §6.2.5): alpha = 0.0046 for n = 5
    assert range_exceedance(5, 3.0) == pytest.approx(0.0046, abs=5e-5)
    assert range_exceedance(2, 3.0) == pytest.approx(
        2.0 * (1.0 - _phi((1.128 + 3 * 0.853) / math.sqrt(2.0))), rel=1e-8
    )


def test_s_chart_of_two_is_a_half_normal_tail() -> None:
    # n = 2: S = |Z|, c4 = sqrt(2/pi); UCL = c4 + 3 sqrt(1 - c4^2)
    c4 = math.sqrt(2.0 / math.pi)
    ucl = c4 + 3.0 * math.sqrt(1.0 - c4 * c4)
    assert stdev_exceedance(2, 3.0) == pytest.approx(2.0 * (1.0 - _phi(ucl)), rel=1e-9)


def test_ewma_and_cusum_match_the_published_tables() -> None:
    # Lucas & Saccucci (1990): lambda 0.1, L 2.814: 500 and 10.3; Montgomery Table 9.3
    assert ewma_arl(0.1, 2.814) == pytest.approx(500.0, rel=0.005)
    assert ewma_arl(0.1, 2.814, shift=1.0) == pytest.approx(10.3, rel=0.01)
    assert cusum_arl(0.5, 5.0) == pytest.approx(465.0, rel=0.005)
    assert cusum_arl(0.5, 5.0, shift=1.0) == pytest.approx(10.4, rel=0.01)
    # a head start shortens the in-control ARL (fast initial response)
    assert cusum_arl(0.5, 5.0, headstart=0.5) < cusum_arl(0.5, 5.0)


def test_run_rule_spacing_of_test_2_is_512() -> None:
    # A run of 9 starts at a point when it and the 8 before share a side and the one
    # before those does not: 2 * (1/2)^10 = 1/512 a point.
    assert rules_arl(RuleSet(tests=(2,), k={2: 9})) == pytest.approx(512.0, rel=0.08)
    assert rules_arl(RuleSet.none()) == math.inf
    assert rules_arl(RuleSet(tests=(1,), k={1: 3.5})) == pytest.approx(shewhart_arl(3.5))


def test_attribute_tails_by_hand() -> None:
    # np chart, p = 0.005, n = 200: UCL = 1 + 3 sqrt(0.995) = 3.99, so 4 or more signal
    p, n = 0.005, 200
    below_four = sum(math.comb(n, x) * p**x * (1 - p) ** (n - x) for x in range(4))
    assert attribute_exceedance("np", p, n) == pytest.approx(1.0 - below_four, rel=1e-9)
    assert attribute_exceedance("p", p, n) == attribute_exceedance("np", p, n)
    # c chart, c-bar 4: UCL = 10, LCL = -2: 11 or more
    tail = 1.0 - sum(math.exp(-4.0) * 4.0**x / math.factorial(x) for x in range(11))
    assert attribute_exceedance("c", 4.0, 1.0) == pytest.approx(tail, rel=1e-9)
