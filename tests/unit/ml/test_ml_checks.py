"""The generic detector checks over every model detector, from its _unit_test_params()."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from linewatch.detectors.base import Detector
from linewatch.detectors.checks import ALL_CHECKS
from linewatch.detectors.ml.registry import MODEL_TYPES

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _vectors(n: int = 120, seed: int = 4) -> list[tuple[datetime, Any]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        a = rng.gauss(0.0, 1.0)
        shift = 2.5 if i > 90 else 0.0
        out.append(
            (
                T0 + timedelta(seconds=i),
                {
                    "a": round(a + shift, 4),
                    "b": round(0.5 * a + rng.gauss(0.0, 1.0), 4),
                    "c": round(rng.gauss(3.0, 0.2), 4),
                },
            )
        )
    return out


CASES = [
    pytest.param(cls, params, id=f"{name}-{i}")
    for name, cls in sorted(MODEL_TYPES.items())
    for i, params in enumerate(cls._unit_test_params())  # type: ignore[attr-defined]
]


@pytest.mark.parametrize("check", ALL_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize(("cls", "params"), CASES)
def test_generic_checks(
    cls: type[Detector], params: dict[str, Any], check: Callable[[Detector, Any], None]
) -> None:
    check(cls(**params), _vectors())


@pytest.mark.parametrize(("cls", "params"), CASES)
def test_stream_reaches_judging_and_alarms(cls: type[Detector], params: dict[str, Any]) -> None:
    """The check stream is long enough to leave warm-up, and its shift is flagged."""
    detector = cls(**params)
    evaluations = [detector.update(ts, x) for ts, x in _vectors()]
    assert detector.has_limits
    assert any(e.signals for e in evaluations[91:])


@pytest.mark.parametrize(("cls", "params"), CASES)
def test_restored_scores_bit_identical(cls: type[Detector], params: dict[str, Any]) -> None:
    stream = _vectors(200, seed=9)
    never_stopped = cls(**params)
    stopped = cls(**params)
    for ts, x in stream[:70]:
        never_stopped.update(ts, x)
        stopped.update(ts, x)
    restarted = cls(**params)
    restarted.restore(stopped.snapshot())
    for ts, x in stream[70:]:
        a = never_stopped.evaluate(ts, x)  # type: ignore[attr-defined]
        b = restarted.evaluate(ts, x)  # type: ignore[attr-defined]
        assert a == b
        assert math.isfinite(a.score) and 0.0 <= a.score <= 1.0
