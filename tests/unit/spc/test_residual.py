"""The AR(1) residual chart on autocorrelated data, beside an I-MR chart of the same data."""

from datetime import UTC, datetime

import numpy as np
import pytest

from linewatch.detectors.spc import Ar1ResidualChart, IMRChart, RuleSet
from linewatch.detectors.spc.autocorr import ar1_fit, lag1_autocorrelation

TS = datetime(2026, 12, 2, tzinfo=UTC)


def _ar1(phi: float, n: int, seed: int = 11) -> list[float]:
    rng = np.random.default_rng(seed)
    e = rng.standard_normal(n)
    x = np.empty(n)
    x[0] = e[0] / np.sqrt(1 - phi * phi)
    for t in range(1, n):
        x[t] = phi * x[t - 1] + e[t]
    return (50.0 + 2.0 * x).tolist()


def test_fit_recovers_phi_mean_and_innovation_sigma() -> None:
    fit = ar1_fit(_ar1(0.8, 20_000))
    assert fit.phi == pytest.approx(0.8, abs=0.01)
    assert fit.mean == pytest.approx(50.0, abs=0.1)
    assert fit.sigma == pytest.approx(2.0, rel=0.02)


def test_residual_chart_keeps_its_false_alarm_rate_where_imr_does_not() -> None:
    values = _ar1(0.8, 20_500, seed=5)
    residual = Ar1ResidualChart(phase1=500)
    imr = IMRChart(phase1=500, dispersion_rules=RuleSet.none())
    residual_signals = sum(len(residual.update(TS, x).signals) for x in values)
    imr_signals = sum(len(imr.update(TS, x).signals) for x in values)
    assert residual.params is not None
    assert residual.params["phi"] == pytest.approx(0.8, abs=0.05)
    # 20,000 residuals at 3 sigma: 54 expected (ARL0 370)
    assert 25 <= residual_signals <= 95
    # the moving range of phi = 0.8 underestimates sigma by sqrt(1 - phi): limits far too narrow
    assert imr_signals > 10 * residual_signals
    assert lag1_autocorrelation(values[:500]) > 0.7
