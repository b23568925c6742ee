"""Extreme finite values (issue 8): every chart refuses or survives them, never overflows.

The contract (detectors/base.py, spc/chart.py): a value beyond ±1e100 is refused with
DetectorInputError before it touches any state, so a run with refused values injected ends
in exactly the state, points and limits of a run without them; values within the bound
(huge, tiny, subnormal) are either charted with finite statistics or refused the same way.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linewatch.detectors.base import MAX_MAGNITUDE, Detector, DetectorInputError, Evaluation
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
from linewatch.detectors.spc.capability import capability, capability_indices
from linewatch.detectors.spc.estimators import mean_of, overall_sigma, safe_fsum, sample_sd

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HUGE = (1e200, 1e308, -1e308, 1.7976931348623157e308, -1e101)

Wrap = Callable[[float], Any]


def _stamp(i: int) -> datetime:
    return T0 + timedelta(seconds=i)


def _normal(n: int, seed: int, mean: float = 10.0, sd: float = 1.0) -> list[float]:
    rng = random.Random(seed)
    return [round(rng.gauss(mean, sd), 4) for _ in range(n)]


def _subgroups(n: int, seed: int, size: int = 5) -> list[Any]:
    values = _normal(n * size, seed)
    return [values[i * size : (i + 1) * size] for i in range(n)]


def _lots(n: int, seed: int, size: int = 200) -> list[Any]:
    rng = random.Random(seed)
    return [{"count": rng.randint(1, 12), "size": size} for _ in range(n)]


def _vectors(n: int, seed: int) -> list[Any]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        a = rng.gauss(410.0, 3.0)
        out.append({"a": a, "b": 0.01 * a + rng.gauss(9.5, 0.15), "c": rng.gauss(3.2, 0.05)})
    return out


def _parts(n: int, seed: int) -> list[Any]:
    rng = random.Random(seed)
    return [
        {"value": rng.gauss(10.0 if i % 2 else 20.0, 1.0), "part": "A" if i % 2 else "B"}
        for i in range(n)
    ]


# name -> (factory, good stream, how a bad number becomes an observation of that chart)
CASES: dict[str, tuple[Callable[[], Detector], list[Any], Wrap]] = {
    "imr": (
        lambda: IMRChart(phase1=20, rules=RuleSet.nelson(), phase1_passes=1),
        _normal(120, 1),
        lambda v: v,
    ),
    "xbar-r": (
        lambda: XbarRChart(phase1=15, phase1_passes=1),
        _subgroups(60, 2),
        lambda v: [10.0, v, 10.5, 9.5, 10.2],
    ),
    "xbar-s": (
        lambda: XbarSChart(phase1=15, rules=RuleSet.western_electric()),
        _subgroups(60, 3),
        lambda v: [10.0, 9.0, v, 10.5, 10.2],
    ),
    "p": (
        lambda: PChart(phase1=20, phase1_passes=1),
        _lots(60, 4),
        lambda v: {"count": 3, "size": v},
    ),
    "np": (lambda: NPChart(phase1=20), _lots(60, 5), lambda v: {"count": v, "size": 200}),
    "c": (lambda: CChart(phase1=20), _lots(60, 6), lambda v: {"count": v}),
    "u": (lambda: UChart(phase1=20), _lots(60, 7), lambda v: {"count": 3, "size": v}),
    "laney-p": (lambda: LaneyPChart(phase1=20), _lots(60, 8), lambda v: {"count": 3, "size": v}),
    "laney-u": (lambda: LaneyUChart(phase1=20), _lots(60, 9), lambda v: {"count": v, "size": 2}),
    "cusum": (lambda: CusumChart(phase1=20), _normal(120, 10), lambda v: v),
    "cusum-subgroups": (lambda: CusumChart(phase1=10), _subgroups(40, 11), lambda v: [v, 10.0]),
    "ewma": (lambda: EwmaChart(phase1=20, lam=0.1), _normal(120, 12), lambda v: v),
    "t2": (
        lambda: HotellingT2Chart(names=("a", "b", "c"), phase1=30, phase1_passes=1),
        _vectors(90, 13),
        lambda v: {"a": 410.0, "b": v, "c": 3.2},
    ),
    "zmr": (
        lambda: ZMRChart(phase1=20, phase1_passes=1),
        _parts(80, 14),
        lambda v: {"value": v, "part": "A"},
    ),
    "capability": (
        lambda: CapabilityChart(lsl=5.0, usl=15.0, window=25),
        _normal(120, 15),
        lambda v: v,
    ),
}


def _finite_state(detector: Detector) -> None:
    """The snapshot is strict JSON: no Infinity or NaN anywhere in the learned state."""
    text = detector.snapshot().decode()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"state holds {c}: {text[:200]}"))


def _feed(detector: Detector, stream: list[Any], bad: dict[int, list[Any]]) -> list[Evaluation]:
    """Evaluations of the good observations; ``bad[i]`` are injected before ``stream[i]``."""
    out = []
    for i, x in enumerate(stream):
        for b in bad.get(i, []):
            with pytest.raises(DetectorInputError, match="implausible"):
                detector.update(_stamp(i), b)
        out.append(detector.update(_stamp(i), x))
    return out


@pytest.mark.parametrize("name", sorted(CASES))
def test_refused_huge_values_leave_no_trace(name: str) -> None:
    factory, stream, wrap = CASES[name]
    clean = factory()
    expected = _feed(clean, stream, {})
    assert clean.has_limits and any(e.points for e in expected)
    injected = factory()
    bad = [wrap(v) for v in HUGE]
    # in phase I (mid-window), right after it, and deep in phase II
    got = _feed(injected, stream, {3: bad, 31: bad, len(stream) - 5: bad})
    assert got == expected
    assert injected.snapshot() == clean.snapshot()
    _finite_state(injected)


@pytest.mark.parametrize("name", sorted(CASES))
def test_huge_and_tiny_within_the_bound_keep_the_state_finite(name: str) -> None:
    factory, stream, wrap = CASES[name]
    detector = factory()
    extremes = [1e99, -1e99, 5e-324, -5e-324, 1e-300, 9.9e99, -2.2250738585072014e-308]
    for i, x in enumerate(stream[:40]):
        detector.update(_stamp(i), x)
    for j, v in enumerate(extremes):
        try:
            evaluation = detector.update(_stamp(100 + j), wrap(v))
        except DetectorInputError:
            continue
        for point in evaluation.points:
            assert not math.isinf(point.value)
            for bound in (point.center, point.lcl, point.ucl):
                assert bound is None or math.isfinite(bound)
    _finite_state(detector)
    for i, x in enumerate(stream[40:], start=200):  # the chart still works afterwards
        try:
            detector.update(_stamp(i), x)
        except DetectorInputError as exc:
            assert name in ("zmr",) or "implausible" in str(exc), exc
    _finite_state(detector)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(CASES)),
    values=st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=30),
    at=st.integers(min_value=0, max_value=45),
)
def test_any_float_is_charted_or_refused(name: str, values: list[float], at: int) -> None:
    factory, stream, wrap = CASES[name]
    detector = factory()
    for i, x in enumerate(stream[:at]):
        detector.update(_stamp(i), x)
    for j, v in enumerate(values):
        with contextlib.suppress(DetectorInputError):  # the one documented refusal
            detector.update(_stamp(at + j), wrap(v))
    _finite_state(detector)
    for i, x in enumerate(stream[at:], start=at + len(values)):
        # a refusal here: a phase-I window that an accepted extreme made inestimable
        with contextlib.suppress(DetectorInputError):
            detector.update(_stamp(i), x)
    _finite_state(detector)


def test_a_refused_value_is_named() -> None:
    chart = IMRChart(phase1=5)
    with pytest.raises(DetectorInputError, match=r"implausible value: value 1e\+200 is beyond"):
        chart.update(T0, 1e200)
    with pytest.raises(DetectorInputError, match=r"subgroup\[1\] -1e\+308"):
        XbarRChart(phase1=5).update(T0, [1.0, -1e308])
    assert chart.update(T0, MAX_MAGNITUDE) == Evaluation()  # the bound itself is accepted


def test_imr_batch_path_refuses_at_the_same_point() -> None:
    good = _normal(200, 20)
    stream = IMRChart(phase1=20)
    batch = IMRChart(phase1=20)
    stamps = [_stamp(i) for i in range(len(good))]
    expected = [stream.update(t, x) for t, x in zip(stamps[:150], good[:150], strict=True)]
    with pytest.raises(DetectorInputError, match="implausible"):
        stream.update(stamps[150], 1e200)
    values: list[Any] = [*good[:150], 1e200, *good[151:]]
    with pytest.raises(DetectorInputError, match="implausible"):
        batch.update_many(stamps, values)
    assert batch.snapshot() == stream.snapshot()
    assert len(expected) == 150


def test_t2_outlier_in_phase1_slides_out_in_bounded_time() -> None:
    # One reading of 1e50 makes the phase-I covariance numerically singular. The window
    # slides past it (never more than phase1 kept) instead of growing and re-estimating
    # an ever larger buffer on every record (issue 8: 20x slower).
    good = _vectors(200, 21)
    chart = HotellingT2Chart(names=("a", "b", "c"), phase1=30)
    refused = 0
    outlier = {**good[0], "a": 1e50}
    for i, x in enumerate([outlier, *good[1:]]):
        try:
            chart.update(_stamp(i), x)
        except DetectorInputError as exc:
            assert "singular" in str(exc) and "oldest observation is dropped" in str(exc)
            refused += 1
        assert len(chart._buffer) <= 30
    assert chart.has_limits
    assert refused == 1  # the first full window held the outlier; the next one did not
    reference = HotellingT2Chart(names=("a", "b", "c"), phase1=30)
    for i, x in enumerate(good[1:31]):
        reference.update(_stamp(i), x)
    assert chart.params == reference.params


def test_inestimable_phase1_keeps_a_bounded_window() -> None:
    chart = IMRChart(phase1=5)
    for i in range(50):  # constant values: sigma 0, never estimable
        with pytest.raises(DetectorInputError) if i >= 4 else contextlib.nullcontext():
            chart.update(_stamp(i), 7.0)
        assert len(chart._buffer) <= 5
    # 46 windows were refused, each dropping its oldest value: the next one is indices 46-50
    evaluation = chart.update(_stamp(60), 6.0)
    assert chart.has_limits
    first = [p.index for p in evaluation.points if p.chart == "individuals"]
    assert first == [46, 47, 48, 49, 50]
    assert chart.params == {"center": (4 * 7.0 + 6.0) / 5, "sigma": 1.0 / 4 / 1.128}


# -- attribute charts: implausible sizes ---------------------------------------------------


@pytest.mark.parametrize("factory", [PChart, NPChart, UChart, LaneyPChart, LaneyUChart])
def test_an_implausible_lot_in_phase2_is_refused_and_later_lots_charted(factory: Any) -> None:
    lots = _lots(60, 30)
    clean = factory(phase1=20)
    expected = _feed(clean, lots, {})
    chart = factory(phase1=20)
    got = []
    for i, lot in enumerate(lots):
        if i == 30:
            with pytest.raises(DetectorInputError, match="implausible size: 1e\\+29 is more than"):
                chart.update(_stamp(i), {"count": 5, "size": 10**29})
        got.append(chart.update(_stamp(i), lot))
    assert got == expected
    assert chart.params is not None and chart.params["max_size"] == 1000 * 200.0
    assert chart.update(T0, {"count": 3, "size": 200000}).points  # exactly at the cap: charted


def test_an_implausible_lot_in_phase1_is_excluded_from_p_bar() -> None:
    lots = _lots(40, 31)
    chart = PChart(phase1=20)
    stream = [*lots[:5], {"count": 1, "size": 10**29}, *lots[5:]]
    points = [p for i, x in enumerate(stream) for p in chart.update(_stamp(i), x).points]
    phase1 = [*lots[:5], *lots[5:19]]
    assert chart.params == {
        "center": sum(o["count"] for o in phase1) / sum(o["size"] for o in phase1),
        "max_size": 200000.0,
    }
    assert chart.excluded == (5,)
    # later lots are judged against a sensible p-bar (issue 8: one lot drove it to ~1e-29)
    later = [p for p in points if p.index > 20]
    reference = PChart(center=chart.params["center"])  # the same p-bar, given
    expected = [reference.update(_stamp(i), x).points[0] for i, x in enumerate(stream[21:])]
    assert [(p.value, p.center, p.lcl, p.ucl, p.rules) for p in later] == [
        (p.value, p.center, p.lcl, p.ucl, p.rules) for p in expected
    ]
    assert sum(bool(p.rules) for p in later) <= 1


# -- estimators and capability -------------------------------------------------------------


def test_estimators_do_not_overflow() -> None:
    assert safe_fsum([1e308, 1e308]) == math.inf
    assert mean_of([1e308, 1e308]) == 1e308
    assert mean_of([1.7976931348623157e308] * 3) == 1.7976931348623157e308
    assert sample_sd([-1e308, 1e308], 0.0) == math.sqrt(2.0) * 1e308
    assert overall_sigma([1e200, -1e200]) == math.sqrt(2.0) * 1e200
    # subnormal values: the unscaled formula squared them to 0
    assert overall_sigma([5e-324, 1e-323, 1.5e-323]) == 5e-324
    # scaling by a power of two changes no bit in the ordinary range
    values = _normal(500, 40, 5.4, 0.08)
    mean = math.fsum(values) / len(values)
    assert overall_sigma(values) == math.sqrt(
        math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1)
    )


def test_capability_with_extreme_values_is_finite_or_refused() -> None:
    result = capability([1e99, -1e99, 1e99, -1e99], lsl=0.0, usl=1.0)
    for index in result.indices.values():
        assert all(math.isfinite(v) for v in (index.value, index.lower, index.upper))
    # Cpm = width / (6 sqrt(s^2 + (mu - T)^2)): hypot instead of squares that overflow
    far = capability_indices(100, 1e200, 1e199, 1e199, 0.0, 1.0)
    assert far.indices["cpm"].value == pytest.approx(1.0 / (6 * math.hypot(1e199, 1e200 - 0.5)))
    with pytest.raises(DetectorInputError, match="not finite"):
        capability_indices(100, 1.0, 1e-320, 1e-320, 0.0, 2.0)
    with pytest.raises(DetectorInputError, match="implausible value"):
        capability([1.0, 2.0, 1e200], lsl=0.0, usl=3.0)


def test_capability_chart_skips_a_window_whose_indices_overflow() -> None:
    chart = CapabilityChart(lsl=0.0, usl=1e100, window=3)
    assert chart.update(T0, 0.0).points == ()
    assert chart.update(T0, 5e-324).points == ()
    assert chart.update(T0, 0.0).points == ()  # Cp = 1e100 / (6 * ~4e-324): skipped
    _finite_state(chart)
    points = [chart.update(T0, v) for v in (1.0, 2.0, 3.0)][-1].points
    assert [p.chart for p in points] == ["cp", "cpk", "pp", "ppk"]


ANY_FINITE = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(st.lists(ANY_FINITE, min_size=2, max_size=20))
def test_estimators_never_raise_on_any_finite_floats(values: list[float]) -> None:
    # beyond the ±1e100 the charts accept, the estimators still return (inf at worst)
    assert math.isfinite(mean_of(values))
    sd = overall_sigma(values)
    assert sd >= 0.0 and not math.isnan(sd)
    if all(abs(v) <= MAX_MAGNITUDE for v in values):
        assert math.isfinite(sd)


@settings(max_examples=200, deadline=None)
@given(st.lists(ANY_FINITE, min_size=2, max_size=20), st.sampled_from([None, "overall"]))
def test_capability_of_any_finite_floats_is_finite_or_refused(
    values: list[float], method: str | None
) -> None:
    try:
        result = capability(values, lsl=-1.0, usl=1.0, sigma_method=method)
    except DetectorInputError:
        return
    for index in result.indices.values():
        assert all(math.isfinite(v) for v in (index.value, index.lower, index.upper))
