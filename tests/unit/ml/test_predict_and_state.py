"""Defect predictor, part joiner, forecasts, probability CUSUM, the signed envelope, make()."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from linewatch.detectors import make
from linewatch.detectors.ml import (
    DefectPredictor,
    HoltForecaster,
    PartJoiner,
    ProbabilityCusum,
    predict_crossing,
)
from linewatch.detectors.ml.envelope import EnvelopeError, key_from_environment, open_envelope, seal

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _parts(n: int, seed: int) -> list[tuple[dict[str, float], bool]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        temp, current = rng.gauss(400.0, 10.0), rng.gauss(12.0, 0.5)
        logit = 0.3 * (temp - 400.0) - 3.0
        out.append(({"temp": temp, "current": current}, rng.random() < 1 / (1 + math.exp(-logit))))
    return out


def test_defect_predictor_learns_the_driving_parameter_and_restores_exactly() -> None:
    parts = _parts(3000, seed=1)
    predictor = DefectPredictor(["temp", "current"], lr=0.05)
    for features, defect in parts[:1500]:
        predictor.learn(features, defect)
    twin = DefectPredictor(["temp", "current"], lr=0.05)
    twin.set_state(json.loads(json.dumps(predictor.to_state())))
    for features, defect in parts[1500:]:
        assert twin.learn(features, defect) == predictor.learn(features, defect)
    assert twin.auc == predictor.auc and twin.log_loss == predictor.log_loss
    assert predictor.auc > 0.75
    assert predictor.predict_proba({"temp": 430.0, "current": 12.0}) > 0.8
    assert predictor.predict_proba({"temp": 380.0, "current": 12.0}) < 0.05
    assert predictor.n_learned == 3000


def test_part_joiner_is_bounded_and_counts() -> None:
    joiner = PartJoiner(max_parts=3, max_samples=2)
    for i in range(5):
        joiner.add_parameters(f"P{i}", {"temp": float(i)})
    assert len(joiner) == 3 and joiner.evicted_parts == 2
    assert joiner.join("P0") is None and joiner.join("P4") == {"temp": 4.0}
    assert joiner.unmatched == 1
    for s in range(3):
        joiner.add_sample("S", T0 + timedelta(seconds=10 * s), {"temp": float(s)})
    assert joiner.evicted_samples == 1
    window = timedelta(seconds=5)
    assert joiner.join_window("S", T0 + timedelta(seconds=21), timedelta(0), window) == {
        "temp": 2.0
    }
    assert joiner.join_window("S", T0 + timedelta(seconds=19), timedelta(0), window) is None
    with pytest.raises(ValueError, match="older"):
        joiner.add_sample("S", T0, {"temp": 0.0})


def test_holt_band_matches_the_ets_variance_formula() -> None:
    holt = HoltForecaster(alpha=0.4, beta=0.2, coverage=0.95)
    rng = random.Random(3)
    for i in range(200):
        holt.learn(0.05 * i + rng.gauss(0.0, 1.0))
    ahead = holt.forecast(5)
    growth = sum((0.4 + 0.4 * 0.2 * j) ** 2 for j in range(1, 5))
    half = 1.959963984540054 * holt.sigma * math.sqrt(1 + growth)
    assert ahead.mean == pytest.approx(holt.level + 5 * holt.trend)
    assert ahead.upper - ahead.mean == pytest.approx(half)
    twin = HoltForecaster(alpha=0.4, beta=0.2)
    twin.set_state(holt.to_state())
    assert twin.forecast(7) == holt.forecast(7)


def test_predicted_crossing_of_a_rising_series() -> None:
    holt = HoltForecaster(alpha=0.5, beta=0.5)
    for x in (0.0, 1.0, 2.0, 3.0):
        holt.learn(x)
    minute = timedelta(minutes=1)
    crossing = predict_crossing(holt, horizon=5, lcl=-10.0, ucl=6.0, interval=minute, now=T0)
    assert crossing is not None
    assert (crossing.limit, crossing.band_step, crossing.expected_at) == ("ucl", 4, T0 + 3 * minute)
    assert predict_crossing(holt, horizon=2, lcl=-10.0, ucl=6.0, interval=minute, now=T0) is None


def test_probability_cusum_fires_on_a_rise_not_in_control() -> None:
    rng = random.Random(4)
    cusum = ProbabilityCusum(warmup=200)
    fired = [cusum.update(min(1.0, max(0.0, rng.gauss(0.05, 0.02)))) for _ in range(5000)]
    assert sum(fired) <= 12  # about one per ~900 points at k=0.5, h=5
    rising = [cusum.update(min(1.0, max(0.0, rng.gauss(0.09, 0.02)))) for _ in range(20)]
    assert any(rising)


def test_envelope_refuses_tampering_wrong_and_missing_keys() -> None:
    sealed = seal({"a": [1.0]}, key=b"k")
    assert open_envelope(sealed, key=b"k") == {"a": [1.0]}
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(EnvelopeError, match="does not verify"):
        open_envelope(tampered, key=b"k")
    with pytest.raises(EnvelopeError, match="does not verify"):
        open_envelope(sealed, key=b"K")
    with pytest.raises(EnvelopeError, match="LINEWATCH_STATE_KEY"):
        open_envelope(sealed, key=None)
    with pytest.raises(EnvelopeError, match="not a signed"):
        open_envelope(b"\x80\x04K\x01.", key=b"k")
    assert key_from_environment({"LINEWATCH_STATE_KEY": ""}) is None


def test_make_is_deterministic_multicolumn_and_in_range() -> None:
    rng = random.Random(5)
    rows = [[rng.gauss(0, 1), rng.gauss(5, 2)] for _ in range(600)]
    for name in ("default", "mewma", "pca", "hst", "imr", "ewma", "cusum", "t2"):
        scores = []
        for _ in range(2):
            scorer = make(name, seed=3, warmup=250)
            scores.append([scorer.update(T0 + timedelta(seconds=i), r) for i, r in enumerate(rows)])
        assert scores[0] == scores[1], name
        assert all(0.0 <= s <= 1.0 for s in scores[0]), name
    single = make("imr", warmup=3)
    assert [single.update(T0, x) for x in (9.0, 10.0, 11.0)] == [0.0, 0.0, 0.0]
    assert single.update(T0, 13.0) == pytest.approx(1 - 0.0026997960632601, rel=1e-9)
    with pytest.raises(ValueError, match="expected 1 value"):
        single.update(T0, [1.0, 2.0])
    with pytest.raises(ValueError, match="unknown detector"):
        make("nope")
    with pytest.raises(ValueError, match="takes no parameter"):
        make("mewma", colour=1)
