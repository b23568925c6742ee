"""The generic detector checks (detectors/checks.py) over every SPC chart."""

import math
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from linewatch.detectors.base import Detector
from linewatch.detectors.checks import ALL_CHECKS
from linewatch.detectors.spc import (
    CapabilityChart,
    CChart,
    CusumChart,
    EwmaChart,
    HotellingT2Chart,
    IMRChart,
    LaneyPChart,
    LaneyUChart,
    NPChart,
    PChart,
    RuleSet,
    UChart,
    XbarRChart,
    XbarSChart,
    ZMRChart,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _floats(n: int = 120, seed: int = 1) -> list[Any]:
    rng = random.Random(seed)
    return [round(rng.gauss(10.0, 1.0) + (1.5 if i > 80 else 0.0), 3) for i in range(n)]


def _groups(n: int = 120, seed: int = 2) -> list[Any]:
    rng = random.Random(seed)
    return [[round(rng.gauss(5.0, 0.5), 3) for _ in range(rng.choice((3, 4, 5)))] for _ in range(n)]


def _counts(n: int = 120, seed: int = 3) -> list[Any]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        size = rng.choice((80, 100, 120))
        out.append({"count": sum(rng.random() < 0.08 for _ in range(size)), "size": size})
    return out


def _vectors(n: int = 120, seed: int = 4) -> list[Any]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        a = rng.gauss(0.0, 1.0)
        out.append(
            {
                "a": round(a, 4),
                "b": round(0.5 * a + rng.gauss(0.0, 1.0), 4),
                "c": round(rng.gauss(3.0, 0.2), 4),
            }
        )
    return out


def _parts(n: int = 120, seed: int = 5) -> list[Any]:
    rng = random.Random(seed)
    targets = {"PN-1": (10.0, 0.5), "PN-2": (50.0, 2.0), "PN-3": (3.0, 0.1)}
    out = []
    for _ in range(n):
        part = rng.choice(sorted(targets))
        mean, sd = targets[part]
        out.append({"part": part, "value": round(rng.gauss(mean, sd), 4)})
    return out


def _stream(values: list[Any]) -> list[tuple[datetime, Any]]:
    return [(T0 + timedelta(seconds=i), v) for i, v in enumerate(values)]


CASES: dict[str, tuple[Callable[[], Detector], Callable[[], list[Any]]]] = {
    "imr": (lambda: IMRChart(phase1=20, rules=RuleSet.nelson()), _floats),
    "imr_known": (lambda: IMRChart(center=10.0, sigma=1.0, rules=RuleSet.nelson()), _floats),
    "imr_passes": (lambda: IMRChart(phase1=30, phase1_passes=2), _floats),
    "xbar_r": (lambda: XbarRChart(phase1=20, rules=RuleSet.nelson(), phase1_passes=1), _groups),
    "xbar_s": (lambda: XbarSChart(phase1=20, sigma_method="pooled"), _groups),
    "p": (lambda: PChart(phase1=25, rules=RuleSet.nelson()), _counts),
    "np": (lambda: NPChart(phase1=25, phase1_passes=1), _counts),
    "c": (lambda: CChart(phase1=25), _counts),
    "u": (lambda: UChart(phase1=25, rules=RuleSet.western_electric()), _counts),
    "laney_p": (lambda: LaneyPChart(phase1=25, phase1_passes=1), _counts),
    "laney_u": (lambda: LaneyUChart(phase1=25), _counts),
    "cusum": (lambda: CusumChart(phase1=20, headstart=0.5), _floats),
    "cusum_groups": (lambda: CusumChart(phase1=20, reset_on_signal=True), _groups),
    "ewma": (lambda: EwmaChart(phase1=20, lam=0.2), _floats),
    "ewma_groups": (lambda: EwmaChart(target=5.0, sigma=0.5, steady_state=True), _groups),
    "t2": (lambda: HotellingT2Chart(names=("a", "b", "c"), phase1=30, phase1_passes=1), _vectors),
    "zmr": (lambda: ZMRChart(phase1=30, rules=RuleSet.nelson()), _parts),
    "zmr_given": (
        lambda: ZMRChart(parts={"PN-1": (10.0, 0.5), "PN-2": (50.0, 2.0), "PN-3": (3.0, 0.1)}),
        _parts,
    ),
    "capability": (lambda: CapabilityChart(lsl=7.0, usl=13.0, window=25), _floats),
    "xbar_r_given": (
        lambda: XbarRChart(limits={"xbar": (5.0, 4.0, 6.0), "range": (1.0, 0.0, 2.5)}),
        _groups,
    ),
}


@pytest.mark.parametrize("check", ALL_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("case", sorted(CASES))
def test_generic_checks(case: str, check: Callable[[Detector, Any], None]) -> None:
    make, data = CASES[case]
    check(make(), _stream(data()))


@pytest.mark.parametrize("case", sorted(CASES))
def test_snapshot_floats_round_trip_exactly(case: str) -> None:
    make, data = CASES[case]
    detector = make()
    for ts, x in _stream(data())[:50]:
        detector.update(ts, x)
    twin = make()
    twin.restore(detector.snapshot())
    assert twin._get_state() == detector._get_state()
    assert not any(isinstance(v, float) and math.isnan(v) for v in detector._get_state().values())
