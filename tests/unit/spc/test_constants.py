"""d2, d3, c4 against their definitions and the printed table."""

import math

import numpy as np
import pytest
from scipy import integrate, special, stats

from linewatch.detectors.spc.constants import D2_D3_EXACT, D2_D3_TABLE, c4, d2, d3

# Montgomery, Introduction to SQC (7th ed.), Appendix VI / ASTM E2587, n = 2..25, 3 dp.
PRINTED_D2 = [
    1.128,
    1.693,
    2.059,
    2.326,
    2.534,
    2.704,
    2.847,
    2.970,
    3.078,
    3.173,
    3.258,
    3.336,
    3.407,
    3.472,
    3.532,
    3.588,
    3.640,
    3.689,
    3.735,
    3.778,
    3.819,
    3.858,
    3.895,
    3.931,
]
PRINTED_D3 = [
    0.853,
    0.888,
    0.880,
    0.864,
    0.848,
    0.833,
    0.820,
    0.808,
    0.797,
    0.787,
    0.778,
    0.770,
    0.763,
    0.756,
    0.750,
    0.744,
    0.739,
    0.733,
    0.729,
    0.724,
    0.720,
    0.716,
    0.712,
    0.708,
]
# Printed c4 (Montgomery App. VI, 4 dp) for n = 2..10 and 25.
PRINTED_C4 = {
    2: 0.7979,
    3: 0.8862,
    4: 0.9213,
    5: 0.9400,
    6: 0.9515,
    7: 0.9594,
    8: 0.9650,
    9: 0.9693,
    10: 0.9727,
    25: 0.9896,
}


def test_table_matches_print() -> None:
    assert [d2(n) for n in range(2, 26)] == PRINTED_D2
    assert [d3(n) for n in range(2, 26)] == PRINTED_D3


def test_c4_exact_and_printed() -> None:
    for n, printed in PRINTED_C4.items():
        assert round(c4(n), 4) == printed
    assert c4(2) == pytest.approx(math.sqrt(2 / math.pi), abs=1e-15)
    n = 7
    assert c4(n) == pytest.approx(
        math.sqrt(2 / (n - 1)) * special.gamma(n / 2) / special.gamma((n - 1) / 2), rel=1e-14
    )


def test_exact_closed_forms_n2() -> None:
    assert d2(2, "exact") == round(2 / math.sqrt(math.pi), 9)
    assert d3(2, "exact") == round(math.sqrt(2 - 4 / math.pi), 9)


@pytest.mark.parametrize("n", [3, 10])
def test_exact_by_integration(n: int) -> None:
    cdf, pdf = stats.norm.cdf, stats.norm.pdf
    mean = integrate.quad(
        lambda x: 1 - (1 - cdf(x)) ** n - cdf(x) ** n, -np.inf, np.inf, epsabs=1e-12
    )[0]
    assert d2(n, "exact") == pytest.approx(mean, abs=2e-9)
    # E[R^2] = 2 E[max^2] - 2 E[max min]; E[max^2] = E[X^2 n Phi^(n-1) phi]
    e_max2 = integrate.quad(
        lambda x: x * x * n * pdf(x) * cdf(x) ** (n - 1), -np.inf, np.inf, epsabs=1e-12
    )[0]
    e_maxmin = integrate.dblquad(
        lambda y, x: x * y * n * (n - 1) * pdf(x) * pdf(y) * (cdf(y) - cdf(x)) ** (n - 2),
        -10,
        10,
        lambda x: x,
        lambda x: 10,
        epsabs=1e-11,
    )[0]
    sd = math.sqrt(2 * e_max2 - 2 * e_maxmin - mean**2)
    assert d3(n, "exact") == pytest.approx(sd, abs=2e-8)


def test_table_is_rounded_exact() -> None:
    for n, (a, b) in D2_D3_EXACT.items():
        assert D2_D3_TABLE[n] == (round(a, 3), round(b, 3))


def test_out_of_range() -> None:
    with pytest.raises(ValueError, match="tabulated"):
        d2(51)
    with pytest.raises(ValueError, match="n >= 2"):
        c4(1)
    with pytest.raises(ValueError, match="'table' or 'exact'"):
        d2(5, "minitab")
