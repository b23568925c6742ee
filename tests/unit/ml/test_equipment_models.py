"""MEWMA, the default equipment model, PCA and the SPC-style scores: exact values and behaviour."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from scipy import stats

from linewatch.detectors.ml import (
    MEWMA,
    EquipmentModel,
    EwmaScore,
    HSTDetector,
    ModelDetector,
    OnlinePCA,
    ShewhartScore,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NAMES = ("a", "b", "c", "d")


def _correlated(
    n: int, seed: int, shift: dict[str, float] | None = None, start: int = 0
) -> list[dict[str, float]]:
    rng = np.random.default_rng(seed)
    factor = rng.standard_normal(n)
    data = np.column_stack(
        [0.8 * factor + 0.6 * rng.standard_normal(n) for _ in range(2)]
        + [rng.standard_normal(n), 0.5 * factor + 0.87 * rng.standard_normal(n)]
    )
    rows = [dict(zip(NAMES, row.tolist(), strict=True)) for row in data]
    for i in range(start, n):
        for name, delta in (shift or {}).items():
            rows[i][name] += delta
    return rows


def _run(detector: ModelDetector, rows: list[dict[str, float]]) -> list[Any]:
    return [detector.evaluate(T0 + timedelta(seconds=i), x) for i, x in enumerate(rows)]


def test_mewma_matches_an_independent_numpy_implementation() -> None:
    rows = [
        {"a": a, "b": b}
        for a, b in [
            (1.0, 2.0),
            (2.0, 1.0),
            (0.0, 0.5),
            (1.5, 2.5),
            (0.5, 0.0),
            (2.0, 2.0),
            (1.0, 1.0),
            (3.0, 1.0),
            (2.5, 3.0),
            (0.0, 1.0),
        ]
    ]
    lam, warmup = 0.3, 5
    detector = MEWMA(["a", "b"], lam=lam, warmup=warmup, target_far=1e-12, refit_every=10**6)
    results = _run(detector, rows)
    data = np.array([[r["a"], r["b"]] for r in rows])
    inverse = np.linalg.inv(np.corrcoef(data[:warmup], rowvar=False))
    z = np.zeros(2)
    for t, i in enumerate(range(warmup, len(rows)), start=1):
        learned = data[:i]  # nothing is flagged at this target, so every point is learned
        u = (data[i] - learned.mean(axis=0)) / learned.std(axis=0, ddof=1)
        z = lam * u + (1 - lam) * z
        scale = lam / (2 - lam) * (1 - (1 - lam) ** (2 * t))
        t2 = z @ inverse @ z / scale
        assert results[i].statistic == pytest.approx(t2, rel=1e-9)
        assert results[i].score == pytest.approx(stats.chi2(2).cdf(t2), rel=1e-9)
        assert sum(results[i].contributions.values()) == pytest.approx(t2, rel=1e-9)
    assert all(not r.calibrated and r.score == 0.0 for r in results[:warmup])


def test_equipment_model_matches_t2_and_mewma_by_hand() -> None:
    rows = _correlated(60, seed=3)
    lam, warmup = 0.2, 40
    detector = EquipmentModel(NAMES, lam=lam, warmup=warmup, refit_every=10**6)
    results = _run(detector, rows)
    data = np.array([[r[n] for n in NAMES] for r in rows])
    reference = data[:warmup]
    mean, sd = reference.mean(axis=0), reference.std(axis=0, ddof=1)
    inverse = np.linalg.inv(np.corrcoef(reference, rowvar=False))
    z = np.zeros(4)
    for t, i in enumerate(range(warmup, len(rows)), start=1):
        u = (data[i] - mean) / sd
        z = lam * u + (1 - lam) * z
        t2 = u @ inverse @ u
        m2 = z @ inverse @ z / (lam / (2 - lam) * (1 - (1 - lam) ** (2 * t)))
        p_value = stats.chi2(4).sf(max(t2, m2))
        assert results[i].statistic == pytest.approx(max(t2, m2), rel=1e-9)
        assert results[i].score == pytest.approx(1 - min(1, 2 * p_value), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize(
    "make",
    [
        lambda: MEWMA(NAMES, warmup=1000, target_far=0.01),
        lambda: EquipmentModel(NAMES, warmup=1000, target_far=0.01),
        lambda: OnlinePCA(NAMES, warmup=1000, target_far=0.01),
        lambda: ShewhartScore(NAMES, warmup=1000, target_far=0.01),
        lambda: EwmaScore(NAMES, warmup=1000, target_far=0.01),
    ],
    ids=["mewma", "equipment", "pca", "imr", "ewma"],
)
def test_false_alarm_rate_is_calibrated_in_control(make: Any) -> None:
    results = _run(make(), _correlated(21000, seed=11))[1000:]
    rate = sum(r.alarm for r in results) / len(results)
    # target 0.01; Bonferroni bounds make the combined ones conservative
    assert 0.003 <= rate <= 0.016, rate


def test_hst_false_alarm_rate_near_its_calibration_floor() -> None:
    detector = HSTDetector(NAMES, warmup=1100, window_size=100, target_far=0.01, seed=2)
    results = _run(detector, _correlated(11100, seed=12))[1100:]
    rate = sum(r.alarm for r in results) / len(results)
    assert 0.002 <= rate <= 0.03, rate


@pytest.mark.parametrize(
    "make",
    [
        lambda: MEWMA(NAMES, warmup=300),
        lambda: EquipmentModel(NAMES, warmup=300),
        lambda: OnlinePCA(NAMES, warmup=300),
        lambda: ShewhartScore(NAMES, warmup=300),
    ],
    ids=["mewma", "equipment", "pca", "imr"],
)
def test_contributions_name_the_shifted_variable(make: Any) -> None:
    results = _run(make(), _correlated(400, seed=5, shift={"c": 3.0}, start=300))
    alarmed = [r for r in results[300:] if r.alarm]
    # Point-wise charts (T²/SPE, Shewhart) flag some of these points, the MEWMAs most of them
    assert alarmed
    tops = [r.top_contributors(1)[0][0] for r in alarmed]
    assert tops.count("c") / len(tops) >= 0.9, tops


@pytest.mark.parametrize(
    "make",
    [
        lambda: MEWMA(NAMES, warmup=300),
        lambda: EquipmentModel(NAMES, warmup=300, refit_every=10),
    ],
    ids=["mewma", "equipment"],
)
def test_a_slow_drift_does_not_become_the_new_normal(make: Any) -> None:
    rows = _correlated(1500, seed=6)
    for i in range(300, 1500):
        rows[i]["a"] += min(4.0, 0.01 * (i - 300))  # drifts to +4 sigma, then holds
    detector = make()
    results = _run(detector, rows)
    assert all(r.alarm for r in results[-200:])


def test_flagged_points_are_not_learned() -> None:
    detector = MEWMA(NAMES, warmup=300)
    rows = _correlated(301, seed=7)
    _run(detector, rows)
    before = detector._get_state()["model"]["moments"]
    flagged = detector.evaluate(T0, {"a": 9.0, "b": 9.0, "c": -9.0, "d": 0.0})
    assert flagged.alarm
    assert detector._get_state()["model"]["moments"] == before
    quiet = detector.evaluate(T0, rows[0])
    assert detector._get_state()["model"]["moments"] != before or quiet.alarm


def test_mewma_beats_hotelling_on_a_small_sustained_shift() -> None:
    rows = _correlated(700, seed=8, shift={"a": 0.75}, start=300)
    mewma = _run(MEWMA(NAMES, warmup=300), rows)
    t2 = _run(MEWMA(NAMES, lam=1.0, warmup=300), rows)
    first = [next(i for i in range(300, 700) if r[i].alarm) for r in (mewma, t2)]
    assert first[0] < first[1]


def test_random_walk_of_warmup_values_needs_warmup() -> None:
    with pytest.raises(ValueError, match="warmup"):
        MEWMA(NAMES, warmup=1)
    with pytest.raises(ValueError, match="variables"):
        MEWMA(["a", "a"])
    rng = random.Random(0)
    detector = MEWMA(["x"], warmup=2)
    detector.evaluate(T0, {"x": rng.random()})
    with pytest.raises(ValueError, match="missing parameter 'x'"):
        detector.evaluate(T0, {"y": 1.0})
    with pytest.raises(ValueError, match="x must be finite"):
        detector.evaluate(T0, {"x": float("nan")})
