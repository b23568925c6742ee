"""In-control average run lengths (ARL0) of the charts, for a false-alarm budget.

Pure numbers: the chance that one in-control point signals, or the mean number of points
between signals, for each chart and rule set with *known* parameters (phase II).

* Shewhart test 1 on a normal statistic (individuals, X-bar): ``P(|Z| > k)``.
* Test 1 on the R chart: the exact distribution of the range of ``n`` normals
  (numerical integration); on the S chart: chi-square with ``n - 1`` degrees of freedom.
* EWMA (steady-state limits) and tabular CUSUM: the Brook & Evans (1972) Markov chain,
  the method ``bench/bench_arl.py`` checks against published tables.
* Nelson tests 2-8 (alone or with test 1): no small chain covers every combination, so
  a seeded simulation through the charts' own rule engine (:class:`RuleState`) counts the
  points between signal onsets (a pattern that goes on flagging is one alarm). That is
  the steady-state spacing of alarms on a long stream, a little shorter than the
  zero-state ARL of the tables (western electric: 85.7 here, 91.75 zero-state).
* Attribute charts (p, np, c, u): the binomial or Poisson tail beyond the limits.

>>> round(shewhart_arl(3.0), 1)
370.4
>>> round(1 / range_exceedance(5, 3.0), 1)   # R chart, n = 5: far below 370
217.2
>>> round(ewma_arl(0.1, 2.814), 1), round(cusum_arl(0.5, 5.0), 1)
(499.5, 465.4)
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import integrate, stats

from linewatch.detectors.spc.constants import c4, d2, d3
from linewatch.detectors.spc.rules import RuleSet, RuleState

__all__ = [
    "attribute_exceedance",
    "cusum_arl",
    "ewma_arl",
    "range_cdf",
    "range_exceedance",
    "rules_arl",
    "shewhart_arl",
    "stdev_exceedance",
]

_SIM_POINTS = 400_000
_SIM_SEED = 20261202


def shewhart_arl(k: float, shift: float = 0.0) -> float:
    """ARL of test 1 at ``k`` sigma on a normal statistic shifted by ``shift`` sigma.

    >>> round(shewhart_arl(3.0, 1.0), 2)
    43.89
    """
    p = float(stats.norm.sf(k - shift) + stats.norm.cdf(-k - shift))
    return math.inf if p <= 0.0 else 1.0 / p


def range_cdf(w: float, n: int) -> float:
    """``P(R <= w)`` for the range of ``n`` standard normals (``w`` in sigmas).

    >>> round(range_cdf(d2(5), 5), 3)   # the range is skewed: its median is below d2
    0.531
    """
    if w <= 0.0:
        return 0.0

    def inner(x: float) -> float:
        return float(stats.norm.pdf(x) * (stats.norm.cdf(x + w) - stats.norm.cdf(x)) ** (n - 1))

    value, _ = integrate.quad(inner, -10.0, 10.0, limit=200, epsabs=1e-13)
    return min(1.0, max(0.0, n * float(value)))


def range_exceedance(n: int, k: float) -> float:
    """Chance that one in-control range falls outside ``d2 ± k d3`` (LCL clipped at 0)."""
    upper, lower = d2(n) + k * d3(n), d2(n) - k * d3(n)
    p = 1.0 - range_cdf(upper, n)
    return p + (range_cdf(lower, n) if lower > 0.0 else 0.0)


def stdev_exceedance(n: int, k: float) -> float:
    """Chance that one in-control S falls outside ``c4 ± k sqrt(1 - c4²)`` (LCL clipped)."""
    c = c4(n)
    spread = math.sqrt(1.0 - c * c)
    upper, lower = c + k * spread, c - k * spread
    df = n - 1
    p = float(stats.chi2.sf(df * upper * upper, df))
    return p + (float(stats.chi2.cdf(df * lower * lower, df)) if lower > 0.0 else 0.0)


def ewma_arl(lam: float, L: float, shift: float = 0.0, states: int = 401) -> float:
    """Zero-state ARL of an EWMA with steady-state limits ``± L sqrt(lam / (2 - lam))``.

    The chart's exact time-varying limits are narrower at the start, so its ARL is a
    little shorter (a few percent for lambda 0.1).
    """
    h = L * math.sqrt(lam / (2.0 - lam))
    width = 2.0 * h / states
    mids = -h + width * (np.arange(states) + 0.5)
    upper = (mids + width / 2)[None, :] - (1.0 - lam) * mids[:, None]
    lower = (mids - width / 2)[None, :] - (1.0 - lam) * mids[:, None]
    moves = stats.norm.cdf(upper / lam - shift) - stats.norm.cdf(lower / lam - shift)
    solved = np.linalg.solve(np.eye(states) - moves, np.ones(states))
    return float(solved[states // 2])


def _one_sided_cusum(mu: float, k: float, h: float, headstart: float, states: int) -> float:
    width = 2.0 * h / (2 * states - 1)
    mids = np.arange(states) * width
    edges = (np.arange(states) + 0.5) * width
    cdf = stats.norm.cdf(edges[None, :] - mids[:, None] + k - mu)
    moves = np.diff(np.concatenate([np.zeros((states, 1)), cdf], axis=1), axis=1)
    solved = np.linalg.solve(np.eye(states) - moves, np.ones(states))
    start = min(states - 1, round(headstart * h / width))
    return float(solved[start])


def cusum_arl(
    k: float, h: float, shift: float = 0.0, headstart: float = 0.0, states: int = 400
) -> float:
    """Zero-state ARL of a two-sided tabular CUSUM (``1/ARL = 1/ARL+ + 1/ARL-``).

    ``headstart`` is a fraction of ``h`` (fast initial response).

    >>> round(cusum_arl(0.5, 5.0, shift=1.0), 1)
    10.4
    """
    upper = _one_sided_cusum(shift, k, h, headstart, states)
    lower = _one_sided_cusum(-shift, k, h, headstart, states)
    return 1.0 / (1.0 / upper + 1.0 / lower)


@lru_cache(maxsize=256)
def rules_arl(
    rules: RuleSet, k: float = 3.0, statistic: str = "normal", n: int = 1, points: int = 0
) -> float:
    """Mean points between signal onsets of ``rules`` on a chart at ``k`` sigma.

    ``statistic``: ``normal`` (individuals, X-bar), ``range`` or ``stdev`` (of subgroups
    of ``n``, standardised by their own center and sigma, limits as the charts draw them).
    Test 1 alone is computed exactly; other tests by a seeded simulation of ``points``
    points (default 400,000; the relative error is about ``1/sqrt(points/ARL)``).

    >>> round(rules_arl(RuleSet.none()), 1)
    inf
    >>> round(rules_arl(RuleSet.western_electric()), 1)   # Champ & Woodall: 91.75 zero-state
    85.7
    """
    tests = rules.tests
    if not tests:
        return math.inf
    k1 = float(rules.k_of(1)) if 1 in tests else k
    if tests == (1,):
        if statistic == "range":
            p = range_exceedance(n, k1)
        elif statistic == "stdev":
            p = stdev_exceedance(n, k1)
        else:
            return shewhart_arl(k1)
        return math.inf if p <= 0.0 else 1.0 / p
    total = points or _SIM_POINTS
    z = _standardised(statistic, n, total, k1)
    low = -k1 if statistic == "normal" else max(-k1, -_center_over_spread(statistic, n))
    state = RuleState(rules)
    onsets, flagged = 0, False
    for value in z.tolist():
        now = state.step(value, 0.0, 1.0, 1.0, k1, low) != 0
        onsets += now and not flagged
        flagged = now
    return math.inf if onsets == 0 else total / onsets


def _center_over_spread(statistic: str, n: int) -> float:
    if statistic == "range":
        return d2(n) / d3(n)
    c = c4(n)
    return c / math.sqrt(1.0 - c * c)


def _standardised(statistic: str, n: int, total: int, k: float) -> np.ndarray:
    """``total`` in-control values of the statistic in sigma units of its own chart."""
    rng = np.random.default_rng(_SIM_SEED)
    if statistic == "normal":
        return np.asarray(rng.standard_normal(total), dtype=float)
    values = rng.standard_normal((total, n))
    if statistic == "range":
        return np.asarray((np.ptp(values, axis=1) - d2(n)) / d3(n), dtype=float)
    c = c4(n)
    return np.asarray((values.std(axis=1, ddof=1) - c) / math.sqrt(1.0 - c * c), dtype=float)


def attribute_exceedance(chart: str, center: float, size: float, k: float = 3.0) -> float:
    """Chance that one in-control point of a p, np, c or u chart falls outside its limits.

    ``center`` is p-bar (p, np) or the mean count per unit (c, u); ``size`` the lot size
    (inspected parts, or units). A point signals when strictly beyond a limit.

    >>> round(attribute_exceedance("np", 0.005, 200), 4)   # UCL 3.99: four or more
    0.0187
    """
    if chart in ("p", "np", "laney-p"):
        mean, sd = center * size, math.sqrt(size * center * (1.0 - center))
        upper, lower = mean + k * sd, mean - k * sd
        dist = stats.binom(round(size), center)
    else:
        mean, sd = center * size, math.sqrt(center * size)
        upper, lower = mean + k * sd, mean - k * sd
        dist = stats.poisson(mean)
    # counts are whole numbers: beyond ``upper`` means at least floor(upper) + 1
    p = float(dist.sf(math.floor(upper + 1e-12)))
    if lower > 0.0:
        p += float(dist.cdf(math.ceil(lower - 1e-12) - 1))
    return p
