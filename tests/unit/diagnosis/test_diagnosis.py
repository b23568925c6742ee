"""The pure root-cause numbers: CUSUM runs, rises, the shift statistic, candidate scores."""

from __future__ import annotations

import math

import numpy as np
import pytest

from linewatch.detectors.diagnosis import (
    Rise,
    _cusum_runs,
    _shift_statistic,
    level_rises,
    rank_candidates,
    rate_rises,
)


def test_cusum_runs_by_hand() -> None:
    # S: 1, 0 (restart at 2), 3, 6 (> 4: alarm, peak), 5, 0 (run ends at 4), 0.5
    runs = _cusum_runs(np.array([1.0, -2.0, 3.0, 3.0, -1.0, -10.0, 0.5]), 4.0)
    assert runs == [(2, 3, 4, 3, 6.0)]


def test_rate_rise_by_hand() -> None:
    parts = [10.0] * 40
    defects = [0.0] * 30 + [5.0] * 10
    # Pass 1: p0 = 50/400, p1 = 3 p0, h/2 = 4: bin 30 adds 3.81, bin 31 alarms; run 30..39.
    # Passes 2-3: nothing outside the run is defective, so p0 is the floor 0.5/400.
    p0 = 0.5 / 400
    w = 5 * math.log(3) + 5 * math.log((1 - 3 * p0) / (1 - p0))
    assert w < 6 < 2 * w  # h = 6: the alarm is the second bin of the rise
    [rise] = rate_rises(parts, defects)
    assert (rise.onset, rise.alarm, rise.end) == (30, 31, 39)
    assert rise.baseline == pytest.approx(p0, rel=1e-12)
    assert rise.size == pytest.approx(0.5 / p0, rel=1e-12)  # 50 of 100 parts
    assert rise.statistic == pytest.approx(10 * w, rel=1e-12)


def test_no_rise_without_defects_and_bad_lengths_say_so() -> None:
    assert rate_rises([10.0] * 5, [0.0] * 5) == []
    with pytest.raises(ValueError, match=r"parts and defects differ in length: \(3,\) vs \(2,\)"):
        rate_rises([1.0, 1.0, 1.0], [0.0, 0.0])


def test_shift_statistic_by_hand() -> None:
    z = np.array([0.0, 0.0, 0.0, 2.0, 2.0, 2.0])
    # |sum z[t:]| / sqrt(n): t=3 gives 6/sqrt(3), the best; t=2 gives 6/2.
    assert _shift_statistic(z, 0, 5, 5) == pytest.approx((2 * math.sqrt(3), 3, 2.0, 3))
    assert _shift_statistic(z, 0, 5, 2) == pytest.approx((3.0, 2, 1.5, 3))


def test_level_rise_of_a_measured_effect() -> None:
    x = [1.0 if i % 2 == 0 else -1.0 for i in range(100)] + [4.0] * 20
    [rise] = level_rises(x, baseline_bins=100)
    sd = math.sqrt(100 / 99)
    assert (rise.onset, rise.end) == (100, 119)
    # k = 0.5, h = 8: S grows by 4/sd - 0.5 = 3.48 a bin, above 8 at the third bin.
    assert rise.alarm == 102
    assert rise.size == pytest.approx(4 / sd)
    assert level_rises(x[:5], baseline_bins=100) == []  # fewer than ten baseline bins


def _alternating(n: int) -> np.ndarray:
    return np.array([1.0 if i % 2 == 0 else -1.0 for i in range(n)])


def test_rank_candidates_lead_lag_and_the_late_penalty() -> None:
    n = 200
    effect = np.r_[np.zeros(150), np.ones(50)]
    cause = _alternating(n)
    cause[140:] = 4.0  # 10 bins before the effect
    late = _alternating(n)
    late[158:] = 4.0  # after the onset (150) plus the tolerance (2)
    noise = _alternating(n)
    rise = Rise(150, 165, 199, 0.0, 1.0, 10.0)
    found = rank_candidates(
        effect,
        rise,
        {"late": late, "noise": noise, "cause": cause},
        baseline_bins=100,
        max_lag_bins=30,
    )
    assert [c.name for c in found] == ["cause", "late", "noise"]
    sd = math.sqrt(100 / 99)
    by_name = {c.name: c for c in found}
    c = by_name["cause"]
    assert (c.change, c.lead_bins, c.lag_bins, c.changed_after) == (140, 10, 10, False)
    assert c.strength == pytest.approx(4 * math.sqrt(26) / sd)  # bins 140..165, all +4
    r = np.corrcoef(cause[110:156] / sd, effect[120:166])[0, 1]
    assert c.correlation == pytest.approx(r)
    assert c.score == pytest.approx(c.strength * r)
    late_score = by_name["late"]
    assert late_score.changed_after
    # Restricted to a change by bin 152: bins 152..157 sum to 0, 158..165 to 8 x 4.
    assert late_score.change == 152
    assert late_score.strength == pytest.approx(32 / sd / math.sqrt(14))
    assert late_score.score == pytest.approx(
        late_score.strength * max(late_score.correlation, 0.05) * 0.25
    )


def test_a_candidate_without_a_baseline_scores_zero_and_a_bad_length_is_an_error() -> None:
    effect = np.r_[np.zeros(50), np.ones(50)]
    rise = Rise(50, 55, 99, 0.0, 1.0, 9.0)
    [c] = rank_candidates(
        effect, rise, {"empty": np.full(100, np.nan)}, baseline_bins=40, max_lag_bins=10
    )
    assert (c.score, c.change, c.lead_bins) == (0.0, None, None)
    with pytest.raises(ValueError, match="candidate 'short' has 3 bins, the effect 100"):
        rank_candidates(effect, rise, {"short": [1.0, 2.0, 3.0]}, baseline_bins=40, max_lag_bins=10)
