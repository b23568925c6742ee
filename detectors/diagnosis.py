"""Root-cause ranking: which upstream series changed, how much and how early, before an effect.

Pure numbers on a regular time grid (one value per bin, NaN where a bin has no data).

**Rises of an effect.** A defect rate (parts and defective parts per bin) is watched by
a Bernoulli CUSUM (Reynolds & Stoumbos 1999) taken bin by bin: each bin adds the
log-likelihood ratio of its parts under "rate ``ratio * p0``" against "rate ``p0``",
``S = max(0, S + w)``, and ``S > h`` (6) is an alarm. ``p0`` is the rate outside the rises:
first the whole period's rate (with ``h / 2``, so that a rise filling much of a short
period is found and set aside), then twice more without the rises found. A measured effect (bin means) is watched by a two-sided
tabular CUSUM of its standardised bin means (k = 0.5, h = 8). A rise's *onset* is the
maximum-likelihood change bin between the bin after the CUSUM last stood at 0 (Page's
estimate) and the alarm: the known baseline before it, a fitted rate (or mean) after it.

**Candidates.** Each candidate's bin means are standardised against its own phase-I
baseline (the first ``baseline_bins`` bins: ``z = (x - mean) / sd`` of those bin means).
In the window from ``onset - max_lag`` to the alarm, the likelihood-ratio statistic of a
mean shift from the known baseline (``G(t) = |sum z[t:alarm]| / sqrt(n)``, in sigma
units times root-bins) is maximised over the change time ``t``, restricted to
``t <= onset + tolerance``; that is the *strength* ``G`` and the *change time*. The *lead
time* is ``onset - change`` (never negative). The *lag* is the shift ``L`` in
``0 .. max_lag`` that maximises the correlation ``r(L)`` of ``z[t - L]`` with the
effect's rate ``y[t]`` over the same window. A candidate whose unrestricted best change
time falls after ``onset + tolerance`` changed after the effect began: its score is
multiplied by ``after_penalty``. The score is

    score = G * max(r(L), r_floor) * (after_penalty if it changed after the effect else 1)

so a candidate ranks high when it moved far from its baseline (G), before the effect, and
its movement lines up with the effect's at some lag (r). The correlation is taken with
the candidate turned the way it shifted, so a drop that comes with the rise counts as a
rise does.

>>> import numpy as np
>>> parts = np.full(200, 10.0)
>>> defects = np.zeros(200); defects[150:] = 3.0; defects[::25] = 1.0
>>> [(r.onset, r.alarm) for r in rate_rises(parts, defects)]
[(150, 152)]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "CandidateScore",
    "Rise",
    "level_rises",
    "rank_candidates",
    "rate_rises",
]

Array = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Rise:
    """A rise of the effect: first bin of the change, alarm bin, last bin of the run.

    ``size`` is the effect's change: the rate ratio (rate in the rise over ``baseline``)
    for a defect rate, the mean shift in sigma for a measured effect.
    """

    onset: int
    alarm: int
    end: int
    baseline: float
    size: float
    statistic: float


@dataclass(frozen=True, slots=True)
class CandidateScore:
    """One candidate's evidence for one rise (see the module docstring)."""

    name: str
    score: float
    strength: float
    change: int | None
    lead_bins: int | None
    lag_bins: int | None
    correlation: float
    shift_sigma: float
    changed_after: bool


def _as_array(values: Any) -> Array:
    return np.asarray(values, dtype=np.float64)


def _cusum_runs(increments: Array, h: float) -> list[tuple[int, int, int, int, float]]:
    """(start, alarm, end, peak bin, peak) of each run of an upper CUSUM that crossed ``h``;
    ``start`` is the bin after the CUSUM last stood at 0 (Page's change-point estimate)."""
    runs: list[tuple[int, int, int, int, float]] = []
    s = 0.0
    start = 0
    alarm: int | None = None
    peak, peak_at = 0.0, 0
    for i, w in enumerate(increments):
        if not math.isfinite(w):
            continue
        s = max(0.0, s + float(w))
        if s == 0.0:
            if alarm is not None:
                runs.append((start, alarm, i - 1, peak_at, peak))
                alarm = None
            start = i + 1
            peak = 0.0
            continue
        if s > peak:
            peak, peak_at = s, i
        if alarm is None and s > h:
            alarm = i
    if alarm is not None:
        runs.append((start, alarm, len(increments) - 1, peak_at, peak))
    return runs


def _rate_onset(n: Array, d: Array, p0: float, first: int, last: int, peak_at: int) -> int:
    """The maximum-likelihood change bin in [first, last]: rate ``p0`` before it, the
    fitted rate from it to ``peak_at`` (the binomial log-likelihood ratio of that stretch)."""
    parts = np.cumsum(n[first : peak_at + 1][::-1])[::-1]
    bad = np.cumsum(d[first : peak_at + 1][::-1])[::-1]
    best, best_at = -1.0, first
    for offset in range(last - first + 1):
        big_n, big_d = float(parts[offset]), float(bad[offset])
        if big_n <= 0:
            continue
        p = big_d / big_n
        if p <= p0:
            continue
        llr = big_d * math.log(p / p0)
        if p < 1:
            llr += (big_n - big_d) * math.log((1 - p) / (1 - p0))
        if llr > best:
            best, best_at = llr, first + offset
    return best_at


def rate_rises(
    parts: Any, defects: Any, *, ratio: float = 3.0, h: float = 6.0, min_defects: int = 3
) -> list[Rise]:
    """Rises of a defect rate: a Bernoulli CUSUM per bin (``parts``, ``defects`` per bin).

    A rise needs at least ``min_defects`` defective parts between its onset and its end.

    >>> rate_rises([100] * 10, [0] * 10)
    []
    """
    n = _as_array(parts)
    d = _as_array(defects)
    if n.shape != d.shape:
        raise ValueError(f"parts and defects differ in length: {n.shape} vs {d.shape}")
    total = float(n.sum())
    if total <= 0 or float(d.sum()) <= 0:
        return []
    outside = np.ones(n.shape, dtype=bool)
    rises: list[Rise] = []
    # p0 from the whole period, then from outside the rises found; the first pass is more
    # sensitive (h / 2) so that a rise filling much of a short period is set aside too.
    for threshold in (h / 2, h, h):
        p0 = float(d[outside].sum()) / max(float(n[outside].sum()), 1.0)
        p0 = min(max(p0, 0.5 / total), 0.5 / ratio)
        p1 = ratio * p0
        up, down = math.log(p1 / p0), math.log((1 - p1) / (1 - p0))
        increments = d * up + (n - d) * down
        runs = _cusum_runs(increments, threshold)
        rises = []
        outside = np.ones(n.shape, dtype=bool)
        for start, alarm, end, peak_at, peak in runs:
            found = float(d[start : end + 1].sum())
            if found < min_defects:
                continue
            onset = _rate_onset(n, d, p0, start, alarm, peak_at)
            rate = float(d[onset : peak_at + 1].sum()) / max(
                float(n[onset : peak_at + 1].sum()), 1.0
            )
            rises.append(Rise(onset, alarm, end, p0, rate / p0, peak))
            outside[start : end + 1] = False
    return rises


def _baseline(values: Array, baseline_bins: int) -> tuple[float, float] | None:
    head = values[: max(baseline_bins, 0)]
    head = head[np.isfinite(head)]
    if head.size < 10:
        return None
    mean = float(head.mean())
    sd = float(head.std(ddof=1))
    if not sd > 0:
        sd = max(abs(mean) * 1e-9, 1e-12)
    return mean, sd


def level_rises(values: Any, *, baseline_bins: int, k: float = 0.5, h: float = 8.0) -> list[Rise]:
    """Out-of-control runs of a measured effect: two-sided CUSUM of standardised bin means.

    >>> x = [0.0, 1.0] * 40 + [5.0] * 20
    >>> [(r.onset, r.alarm, round(r.size, 1)) for r in level_rises(x, baseline_bins=60)]
    [(80, 80, 8.9)]
    """
    x = _as_array(values)
    base = _baseline(x, baseline_bins)
    if base is None:
        return []
    z = (x - base[0]) / base[1]
    rises = []
    for sign in (1.0, -1.0):
        for start, alarm, end, peak_at, peak in _cusum_runs(sign * z - k, h):
            # The maximum-likelihood change bin (known baseline, unknown shifted mean).
            _, onset, size, _ = _shift_statistic(sign * z, start, peak_at, alarm)
            rises.append(Rise(onset, alarm, end, base[0], sign * size, peak))
    return sorted(rises, key=lambda r: r.onset)


def _shift_statistic(
    z: Array, first: int, last: int, latest_change: int
) -> tuple[float, int, float, int]:
    """max over t in [first, latest_change] of |sum z[t:last+1]| / sqrt(n), with its t, the
    mean shift there, and the unrestricted best t in [first, last]."""
    segment = z[first : last + 1]
    present = np.isfinite(segment)
    filled = np.where(present, segment, 0.0)
    # Sums and counts from each t to the end of the window.
    sums = np.cumsum(filled[::-1])[::-1]
    counts = np.cumsum(present[::-1].astype(np.float64))[::-1]
    valid = present & (counts > 0)
    stats = np.zeros(segment.shape)
    stats[valid] = np.abs(sums[valid]) / np.sqrt(counts[valid])
    best_any = int(np.argmax(stats))
    limit = min(max(latest_change - first, 0), segment.size - 1)
    best = int(np.argmax(stats[: limit + 1]))
    strength = float(stats[best])
    shift = float(sums[best] / counts[best]) if counts[best] > 0 else 0.0
    return strength, first + best, shift, first + best_any


def _lagged_correlation(
    z: Array, effect: Array, first: int, last: int, max_lag: int
) -> tuple[float, int]:
    """The best correlation of z[t - L] with effect[t] over t in [first, last], L in 0..max_lag."""
    best_r, best_lag = -math.inf, 0
    y_all = effect[first : last + 1]
    for lag in range(max_lag + 1):
        lo = first - lag
        x = z[max(lo, 0) : last + 1 - lag]
        y = y_all[max(0, -lo) :]
        ok = np.isfinite(x) & np.isfinite(y)
        if ok.sum() < 5:
            continue
        xs, ys = x[ok], y[ok]
        sx, sy = float(xs.std()), float(ys.std())
        if sx <= 0 or sy <= 0:
            continue
        r = float(((xs - xs.mean()) * (ys - ys.mean())).mean() / (sx * sy))
        if r > best_r:
            best_r, best_lag = r, lag
    return (best_r, best_lag) if math.isfinite(best_r) else (0.0, 0)


def rank_candidates(
    effect: Any,
    rise: Rise,
    candidates: Mapping[str, Any],
    *,
    baseline_bins: int,
    max_lag_bins: int,
    tolerance_bins: int = 2,
    after_penalty: float = 0.25,
    r_floor: float = 0.05,
) -> list[CandidateScore]:
    """Every candidate's score for ``rise`` of ``effect`` (per-bin rate or mean), best first.

    ``candidates`` maps a name to its per-bin means on the effect's grid (NaN: no data).
    A candidate without ten baseline bins cannot be standardised and scores 0.

    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> cause = rng.normal(size=300); cause[200:] += 3.0
    >>> noise = rng.normal(size=300)
    >>> effect = np.r_[np.zeros(205), np.ones(95)] + rng.normal(0, 0.2, 300)
    >>> found = rank_candidates(effect, Rise(205, 207, 299, 0.0, 5.0, 9.0),
    ...                         {"noise": noise, "cause": cause},
    ...                         baseline_bins=100, max_lag_bins=30)
    >>> [c.name for c in found], found[0].change, found[0].lead_bins
    (['cause', 'noise'], 200, 5)
    """
    y = _as_array(effect)
    first = max(rise.onset - max_lag_bins, 0)
    last = min(max(rise.alarm, rise.onset), y.size - 1)
    # The correlation also looks a little past the alarm, where the effect is clearest.
    corr_last = min(max(last, rise.onset + max_lag_bins // 2), rise.end, y.size - 1)
    scores: list[CandidateScore] = []
    for name, series in candidates.items():
        x = _as_array(series)
        if x.shape != y.shape:
            raise ValueError(f"candidate {name!r} has {x.size} bins, the effect {y.size}")
        base = _baseline(x, baseline_bins)
        if base is None or not np.isfinite(x[first : last + 1]).any():
            scores.append(CandidateScore(name, 0.0, 0.0, None, None, None, 0.0, 0.0, False))
            continue
        z = (x - base[0]) / base[1]
        strength, change, shift, best_any = _shift_statistic(
            z, first, last, rise.onset + tolerance_bins
        )
        r, lag = _lagged_correlation(z if shift >= 0 else -z, y, first, corr_last, max_lag_bins)
        after = best_any > rise.onset + tolerance_bins
        score = strength * max(r, r_floor) * (after_penalty if after else 1.0)
        lead = max(rise.onset - change, 0)
        scores.append(CandidateScore(name, score, strength, change, lead, lag, r, shift, after))
    return sorted(scores, key=lambda c: (-c.score, c.name))
