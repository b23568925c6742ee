"""The line simulator: determinism, timing, counts, fault signatures, parsing, validation."""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from itertools import islice, pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linewatch.connectors.simulator import (
    FAULT_KINDS,
    CharacteristicSim,
    DefectSim,
    FaultSim,
    LineSim,
    ParameterSim,
    Simulation,
    StationSim,
    fault_windows,
    format_fault,
    parse_fault,
    simulate,
    specs,
    validate_faults,
    welding_faults,
    welding_line,
)
from linewatch.pipeline import strict
from linewatch.pipeline.config import ConfigError, load_config
from linewatch.pipeline.job import simulated_records
from linewatch.pipeline.models import Attribute, Inspection, Measurement, Parameter, WireRecord

START = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
US = timedelta(microseconds=1)

# One characteristic and one autocorrelated parameter, a part a second: many samples fast.
X_MEAN, X_SIGMA = 10.0, 2.0
P_MEAN, P_SIGMA, P_PHI = 100.0, 5.0, 0.7


def small_line(subgroup_size: int = 1, cycle_s: float = 1.0) -> LineSim:
    station = StationSim(
        "s1",
        characteristics=(CharacteristicSim("x", X_MEAN, X_SIGMA, subgroup_size),),
        parameters=(ParameterSim("eq", "p", P_MEAN, P_SIGMA, phi=P_PHI),),
    )
    other = StationSim("s2", characteristics=(CharacteristicSim("y", 0.0, 1.0),))
    return LineSim("T", (station, other), cycle_s=cycle_s)


def target_of(record: WireRecord) -> str | None:
    if isinstance(record, Measurement):
        return f"{record.station}/{record.characteristic}"
    if isinstance(record, Parameter):
        return f"{record.station}/{record.equipment}/{record.name}"
    return None


def series(records: Iterable[WireRecord], target: str) -> list[tuple[int, float, str | None]]:
    """(µs since START, value, subgroup) of one target's records."""
    out: list[tuple[int, float, str | None]] = []
    for record in records:
        if target_of(record) == target:
            assert isinstance(record, Measurement | Parameter)
            subgroup = record.subgroup if isinstance(record, Measurement) else None
            out.append(((record.ts - START) // US, record.value, subgroup))
    return out


def in_window(t_us: int, fault: FaultSim) -> bool:
    return fault.start_min * 60e6 <= t_us < fault.end_min * 60e6


# --------------------------------------------------------------------------- basics


def test_same_seed_same_records_and_different_seed_differs() -> None:
    line, faults = welding_line(), welding_faults()
    first = list(simulate(line, START, 24 * 60, faults, seed=3))
    again = list(simulate(line, START, 24 * 60, faults, seed=3))
    other = list(simulate(line, START, 24 * 60, faults, seed=4))
    assert first == again
    assert len(other) == len(first)
    assert [target_of(r) for r in other] == [target_of(r) for r in first]
    assert series(first, "weld-2/nugget_dia_mm") != series(other, "weld-2/nugget_dia_mm")


def test_timestamps_are_utc_and_non_decreasing_even_when_parts_overlap() -> None:
    # Stations 5 s apart but a part every 2 s: records of several parts interleave.
    stations = tuple(
        StationSim(f"st{i}", characteristics=(CharacteristicSim("d", 1.0, 0.1),)) for i in range(6)
    )
    line = LineSim("L", stations, cycle_s=2.0, station_gap_s=5.0, jitter_frac=0.5)
    eastern = datetime(2026, 11, 2, 1, 0, tzinfo=timezone(timedelta(hours=-5)))
    records = list(simulate(line, eastern, 30))
    assert len(records) == 6 * 900
    assert all(r.ts.tzinfo is UTC for r in records)
    assert all(a.ts <= b.ts for a, b in pairwise(records))
    assert records[0].ts >= START
    # Each station sees the parts in order, 5 s after the previous station.
    for i in range(1, 6):
        previous = [r for r in records if isinstance(r, Measurement) and r.station == f"st{i - 1}"]
        current = [r for r in records if isinstance(r, Measurement) and r.station == f"st{i}"]
        assert [r.part_id for r in current] == [r.part_id for r in previous]
        assert all(
            c.ts - p.ts == timedelta(seconds=5) for p, c in zip(previous, current, strict=True)
        )


def test_welding_line_timestamps_ordered_over_three_days() -> None:
    records = simulate(welding_line(), START, 3 * 24 * 60, welding_faults(), seed=1)
    previous = START
    count = 0
    for record in records:
        assert record.ts.tzinfo is UTC
        assert record.ts >= previous
        previous = record.ts
        count += 1
    assert count == 8640 * 8 + (8640 // 50) * 3


@pytest.mark.parametrize(
    ("minutes", "cycle_s", "parts"),
    [(60, 30.0, 120), (10, 7.0, 86), (0.5, 30.0, 1), (0, 30.0, 0), (1, 0.25, 240)],
)
def test_record_counts(minutes: float, cycle_s: float, parts: int) -> None:
    base = welding_line()
    line = LineSim(base.line, base.stations, cycle_s=cycle_s)
    records = list(simulate(line, START, minutes))
    # Per part: 3 parameters + 1 measurement at weld-2, 1 + 2 at trim, 1 inspection at final;
    # per full lot of 50: one attribute per defect code.
    assert len(records) == parts * 8 + (parts // 50) * 3
    inspections = [r for r in records if isinstance(r, Inspection)]
    assert [r.part_id for r in inspections] == [f"L3-P{k + 1:07d}" for k in range(parts)]


def test_parts_enter_once_a_cycle_with_small_jitter() -> None:
    records = list(simulate(welding_line(), START, 60))
    entries = [r.ts - START for r in records if isinstance(r, Inspection)]
    for k, entry in enumerate(entries):
        # final is the third station: two 5 s gaps after entry; jitter below 5% of 30 s.
        offset = entry - timedelta(seconds=30 * k + 10)
        assert timedelta(0) <= offset < timedelta(seconds=1.5)


def test_subgroups_and_part_ids() -> None:
    records = list(simulate(welding_line(), START, 10))
    nugget = [
        r for r in records if isinstance(r, Measurement) and r.characteristic == "nugget_dia_mm"
    ]
    assert [r.subgroup for r in nugget] == [f"SG-{k // 5 + 1}" for k in range(20)]
    length = [
        r for r in records if isinstance(r, Measurement) and r.characteristic == "trim_length_mm"
    ]
    assert {r.subgroup for r in length} == {None}
    params = [r for r in records if isinstance(r, Parameter) and r.name == "tip_temp_c"]
    assert [r.part_id for r in params] == [f"L3-P{k + 1:07d}" for k in range(20)]


def test_endless_run_is_lazy() -> None:
    first = list(islice(simulate(welding_line(), START, math.inf), 1000))
    assert len(first) == 1000
    assert first == list(islice(simulate(welding_line(), START, 1000), 1000))


def test_parameter_is_stationary_ar1_with_given_sd_and_phi() -> None:
    values = [v for _, v, _ in series(simulate(small_line(), START, 600), "s1/eq/p")]
    assert statistics.fmean(values) == pytest.approx(P_MEAN, abs=0.3)
    assert statistics.stdev(values) == pytest.approx(P_SIGMA, rel=0.05)
    centred = [v - P_MEAN for v in values]
    lag1 = sum(a * b for a, b in pairwise(centred)) / sum(c * c for c in centred)
    assert lag1 == pytest.approx(P_PHI, abs=0.03)


def test_attributes_count_the_lot_and_inspections_fail_on_defects() -> None:
    line = LineSim(
        "L",
        (
            StationSim(
                "final",
                inspects=True,
                lot_size=20,
                defects=(DefectSim("a", 0.2), DefectSim("b", 0.1, reworkable=True)),
            ),
        ),
    )
    records = list(simulate(line, START, 20 * 20 * 0.5 + 0.2, seed=5))  # 20 lots + 1 part
    inspections = [r for r in records if isinstance(r, Inspection)]
    attributes = [r for r in records if isinstance(r, Attribute)]
    assert len(inspections) == 401
    assert len(attributes) == 40  # the partial 21st lot is not reported
    for lot in range(20):
        parts = inspections[lot * 20 : (lot + 1) * 20]
        a, b = attributes[lot * 2 : lot * 2 + 2]
        assert (a.characteristic, b.characteristic) == ("a", "b")
        assert a.inspected == b.inspected == 20
        assert a.nonconforming == sum("a" in p.defect_codes for p in parts)
        assert b.nonconforming == sum("b" in p.defect_codes for p in parts)
        assert a.ts == b.ts == parts[-1].ts
    for part in inspections:
        assert part.defects == len(part.defect_codes)
        assert part.result == ("fail" if part.defect_codes else "pass")
        assert part.rework == (part.defect_codes == ["b"])
    rate_a = sum("a" in p.defect_codes for p in inspections) / len(inspections)
    assert rate_a == pytest.approx(0.2, abs=0.05)


# --------------------------------------------------------------------------- fault signatures


def expected_value(fault: FaultSim, free: float, mean: float, sigma: float, t_us: int) -> float:
    """The faulted value from the fault-free one, for the kinds that need no extra draws."""
    elapsed = t_us - fault.start_min * 60e6
    amount = fault.magnitude * sigma
    if fault.kind == "shift":
        return free + amount
    if fault.kind == "trend":
        return free + amount * elapsed / (fault.duration_min * 60e6)
    if fault.kind == "variance":
        return mean + fault.magnitude * (free - mean)
    if fault.kind == "cycle":
        return free + amount * math.sin(2 * math.pi * elapsed / (fault.period_min * 60e6))
    assert fault.kind == "stratification"
    return mean + (free - mean) / fault.magnitude


@pytest.mark.parametrize("kind", [k for k in FAULT_KINDS if k != "mixture"])
@pytest.mark.parametrize(
    ("target", "mean", "sigma"), [("s1/x", X_MEAN, X_SIGMA), ("s1/eq/p", P_MEAN, P_SIGMA)]
)
def test_fault_changes_exactly_its_window(
    kind: str, target: str, mean: float, sigma: float
) -> None:
    fault = FaultSim(kind, target, start_min=20, duration_min=30, magnitude=2.5, period_min=7)
    free = series(simulate(small_line(), START, 70, seed=9), target)
    faulted = series(simulate(small_line(), START, 70, [fault], seed=9), target)
    assert [t for t, _, _ in faulted] == [t for t, _, _ in free]
    inside = 0
    for (t_us, value, _), (_, free_value, _) in zip(faulted, free, strict=True):
        if in_window(t_us, fault):
            inside += 1
            want = expected_value(fault, free_value, mean, sigma, t_us)
            assert value == pytest.approx(want, rel=1e-12, abs=1e-9)
        else:
            assert value == free_value
    assert inside == pytest.approx(30 * 60, abs=1)


@pytest.mark.parametrize(("subgroup_size", "target"), [(1, "s1/x"), (5, "s1/x"), (1, "s1/eq/p")])
def test_mixture_moves_whole_subgroups_to_one_of_two_populations(
    subgroup_size: int, target: str
) -> None:
    sigma = X_SIGMA if target == "s1/x" else P_SIGMA
    fault = FaultSim("mixture", target, start_min=10, duration_min=20, magnitude=1.5)
    line = small_line(subgroup_size)
    free = series(simulate(line, START, 40, seed=2), target)
    faulted = series(simulate(line, START, 40, [fault], seed=2), target)
    signs: dict[object, float] = {}
    for index, ((t_us, value, subgroup), (_, free_value, _)) in enumerate(
        zip(faulted, free, strict=True)
    ):
        difference = value - free_value
        if not in_window(t_us, fault):
            assert difference == 0.0
            continue
        assert abs(difference) == pytest.approx(1.5 * sigma)
        group = subgroup if subgroup is not None else index
        assert signs.setdefault(group, math.copysign(1.0, difference)) == math.copysign(
            1.0, difference
        )
    assert len(signs) == pytest.approx(20 * 60 / subgroup_size, abs=2)
    share_up = sum(s > 0 for s in signs.values()) / len(signs)
    assert 0.4 < share_up < 0.6


def window_stats(kind: str, magnitude: float) -> tuple[list[tuple[float, float]], list[float]]:
    """(minutes into the window, value) inside and values outside a 60 min fault on s1/x."""
    fault = FaultSim(kind, "s1/x", start_min=60, duration_min=60, magnitude=magnitude)
    inside: list[tuple[float, float]] = []
    outside: list[float] = []
    for t_us, value, _ in series(simulate(small_line(), START, 180, [fault], seed=11), "s1/x"):
        if in_window(t_us, fault):
            inside.append((t_us / 60e6 - 60, value))
        else:
            outside.append(value)
    return inside, outside


def slope(points: Sequence[tuple[float, float]]) -> float:
    mean_t = statistics.fmean(t for t, _ in points)
    mean_v = statistics.fmean(v for _, v in points)
    sxy = sum((t - mean_t) * (v - mean_v) for t, v in points)
    return sxy / sum((t - mean_t) ** 2 for t, _ in points)


def near_center(values: Sequence[float]) -> float:
    return sum(abs(v - X_MEAN) < 0.5 * X_SIGMA for v in values) / len(values)


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_statistical_signature_inside_window_and_none_outside(kind: str) -> None:
    magnitude = {"variance": 2.0, "stratification": 3.0}.get(kind, 1.5)
    inside, outside = window_stats(kind, magnitude)
    values = [v for _, v in inside]
    assert len(values) == pytest.approx(3600, abs=1)
    # Outside the window: the nominal process, no drift, normal spread.
    assert statistics.fmean(outside) == pytest.approx(X_MEAN, abs=0.1)
    assert statistics.stdev(outside) == pytest.approx(X_SIGMA, rel=0.04)
    assert near_center(outside) == pytest.approx(0.383, abs=0.03)
    shifted = X_MEAN + magnitude * X_SIGMA
    if kind == "shift":
        assert statistics.fmean(values) == pytest.approx(shifted, abs=0.15)
        assert statistics.stdev(values) == pytest.approx(X_SIGMA, rel=0.05)
    elif kind == "trend":
        assert slope(inside) == pytest.approx(magnitude * X_SIGMA / 60, abs=0.01)
        last = [v for t, v in inside if t >= 54]
        assert statistics.fmean(last) == pytest.approx(X_MEAN + 0.95 * magnitude * X_SIGMA, abs=0.3)
    elif kind == "variance":
        assert statistics.fmean(values) == pytest.approx(X_MEAN, abs=0.2)
        assert statistics.stdev(values) == pytest.approx(magnitude * X_SIGMA, rel=0.05)
    elif kind == "cycle":
        amplitude = 2 * statistics.fmean(
            (v - X_MEAN) * math.sin(2 * math.pi * t / 10.0) for t, v in inside
        )
        assert amplitude == pytest.approx(magnitude * X_SIGMA, abs=0.25)
        assert statistics.fmean(values) == pytest.approx(X_MEAN, abs=0.15)
    elif kind == "mixture":
        # Two humps at mean ± 1.5 sigma: points avoid the center line.
        assert near_center(values) < 0.2
        assert statistics.fmean(abs(v - X_MEAN) for v in values) > 1.4 * X_SIGMA
        assert statistics.fmean(values) == pytest.approx(X_MEAN, abs=0.25)
    else:
        # Stratification: hugging the center line.
        assert statistics.stdev(values) == pytest.approx(X_SIGMA / magnitude, rel=0.05)
        assert sum(abs(v - X_MEAN) < X_SIGMA for v in values) / len(values) > 0.99


# --------------------------------------------------------------------------- isolation


def test_faults_do_not_touch_other_targets() -> None:
    line, faults = welding_line(), welding_faults()
    targeted = {f.target for f in faults}
    free = list(simulate(line, START, 3 * 24 * 60, seed=8))
    faulted = list(simulate(line, START, 3 * 24 * 60, faults, seed=8))
    assert len(free) == len(faulted)
    changed: set[str] = set()
    for a, b in zip(free, faulted, strict=True):
        assert (a.ts, type(a), target_of(a)) == (b.ts, type(b), target_of(b))
        if a != b:
            changed.add(target_of(a) or a.station)
    # Only the faulted targets, and final inspection through the porosity driver.
    assert changed == targeted | {"final"}


def test_faults_off_any_driver_leave_inspections_identical() -> None:
    line = welding_line()
    faults = [f for f in welding_faults() if f.target != "weld-2/welder-07/tip_temp_c"]
    free = list(simulate(line, START, 3 * 24 * 60, seed=8))
    faulted = list(simulate(line, START, 3 * 24 * 60, faults, seed=8))
    for a, b in zip(free, faulted, strict=True):
        if target_of(a) not in {f.target for f in faults}:
            assert a == b


def test_adding_a_station_or_fault_keeps_the_noise_of_the_others() -> None:
    base = small_line()
    extra = StationSim("s3", characteristics=(CharacteristicSim("z", 5.0, 1.0),))
    bigger = LineSim(base.line, (*base.stations, extra), cycle_s=base.cycle_s)
    fault = FaultSim("variance", "s3/z", 5, 5, 3.0)
    plain = list(simulate(base, START, 20, seed=4))
    grown = list(simulate(bigger, START, 20, [fault], seed=4))
    for target in ("s1/x", "s1/eq/p", "s2/y"):
        assert series(grown, target) == series(plain, target)


# --------------------------------------------------------------------------- cause and effect


def porosity_rate(inspections: Sequence[Inspection], lo: timedelta, hi: timedelta) -> float:
    parts = [p for p in inspections if lo <= p.ts - START < hi]
    assert parts
    return sum("porosity" in p.defect_codes for p in parts) / len(parts)


def test_tip_temperature_drift_raises_porosity_after_the_lag() -> None:
    line = welding_line()
    drift = next(f for f in welding_faults() if f.target == "weld-2/welder-07/tip_temp_c")
    assert (drift.kind, drift.start_min, drift.duration_min, drift.magnitude) == (
        "trend",
        840,
        90,
        4,
    )
    records = list(simulate(line, START, 17 * 60, [drift], seed=0))
    inspections = [r for r in records if isinstance(r, Inspection)]
    lag = timedelta(minutes=5)
    start, end = timedelta(minutes=drift.start_min), timedelta(minutes=drift.end_min)
    over_one_sigma = start + (end - start) / 4  # the drift passes 1 sigma a quarter in
    base_rate = 0.005
    assert porosity_rate(inspections, timedelta(0), start) < 2 * base_rate
    assert porosity_rate(inspections, over_one_sigma + lag, end + lag) > 10 * base_rate
    late = porosity_rate(inspections, (start + end) / 2 + lag, end + lag)
    assert late > 0.15
    temperatures = series(records, "weld-2/welder-07/tip_temp_c")
    hottest = max(v for t, v, _ in temperatures if start <= t * US < end)
    assert hottest > 410 + 3 * 3.0


def test_defects_follow_the_driver_exactly_lag_seconds_later() -> None:
    lag_s = 120.0
    line = LineSim(
        "L",
        (
            StationSim("a", parameters=(ParameterSim("eq", "t", 0.0, 1.0),)),
            StationSim(
                "b",
                inspects=True,
                defects=(DefectSim("d", 0.01, driver="a/eq/t", sensitivity=2.0, lag_s=lag_s),),
            ),
        ),
        cycle_s=1.0,
    )
    step = FaultSim("shift", "a/eq/t", start_min=30, duration_min=30, magnitude=6.0)
    free = [r for r in simulate(line, START, 100, seed=6) if isinstance(r, Inspection)]
    faulted = [r for r in simulate(line, START, 100, [step], seed=6) if isinstance(r, Inspection)]
    lo = timedelta(minutes=30, seconds=lag_s)
    hi = timedelta(minutes=60, seconds=lag_s)
    for a, b in zip(free, faulted, strict=True):
        offset = a.ts - START
        # Before the lagged start and once a post-fault reading is lag old: the same parts fail.
        if offset < lo or offset >= hi + timedelta(seconds=2):
            assert a == b
    inside = [p for p in faulted if lo + timedelta(seconds=2) <= p.ts - START < hi]
    rate = sum(p.result == "fail" for p in inside) / len(inside)
    assert rate == pytest.approx(0.5, abs=0.05)  # the cap
    before = [p for p in faulted if p.ts - START < lo]
    assert sum(p.result == "fail" for p in before) / len(before) < 0.05


# --------------------------------------------------------------------------- text and validation


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "shift:weld-2/nugget_dia_mm@120m+60m*1.5",
            FaultSim("shift", "weld-2/nugget_dia_mm", 120, 60, 1.5),
        ),
        (
            "trend:weld-2/welder-07/tip_temp_c@2h+90m*4",
            FaultSim("trend", "weld-2/welder-07/tip_temp_c", 120, 90, 4),
        ),
        ("cycle:s/e/p@0.5h+1h*2~15m", FaultSim("cycle", "s/e/p", 30, 60, 2, period_min=15)),
        ("variance:s/x@0m+1.25h", FaultSim("variance", "s/x", 0, 75, 1.5)),
        ("shift:s/x@1h+1h*-2", FaultSim("shift", "s/x", 60, 60, -2)),
        (" mixture:s/x@1h+1h*2~1h ", FaultSim("mixture", "s/x", 60, 60, 2, period_min=60)),
    ],
)
def test_parse_fault(text: str, expected: FaultSim) -> None:
    fault = parse_fault(text)
    assert fault == expected
    assert parse_fault(format_fault(fault)) == fault


@pytest.mark.parametrize(
    "text",
    [
        "shift:weld-2/nugget_dia_mm@2h+1h*1.5",
        "trend:weld-2/welder-07/tip_temp_c@14h+90m*4",
        "cycle:a/b/c@0m+2h*2~7.5m",
        "stratification:a/b@90m+45m*3",
    ],
)
def test_format_fault_gives_back_canonical_text(text: str) -> None:
    assert format_fault(parse_fault(text)) == text


finite = st.floats(allow_nan=False, allow_infinity=False)


@st.composite
def faults(draw: st.DrawFn) -> FaultSim:
    kind = draw(st.sampled_from(FAULT_KINDS))
    size = draw(finite.filter(lambda v: 1e-6 <= v <= 1e6))
    magnitude = (
        size if kind in ("variance", "stratification") else draw(st.sampled_from([1, -1])) * size
    )
    return FaultSim(
        kind,
        draw(st.sampled_from(["s/x", "st-1/eq_2/p.3"])),
        start_min=draw(finite.filter(lambda v: 0 <= v <= 1e7)),
        duration_min=draw(finite.filter(lambda v: 1e-9 <= v <= 1e7)),
        magnitude=magnitude,
        period_min=draw(finite.filter(lambda v: 1e-9 <= v <= 1e7)),
    )


@given(faults())
def test_format_then_parse_round_trips(fault: FaultSim) -> None:
    assert parse_fault(format_fault(fault)) == fault


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("shift", "no ':' after the kind"),
        ("drift:s/x@1h+1h", "unknown kind 'drift'; expected one of shift, trend"),
        ("shift:s/x", "no '@' before the start time"),
        ("shift:sx@1h+1h", "target 'sx' is not station/characteristic"),
        ("shift:s//x@1h+1h", "target 's//x' is not station/characteristic"),
        ("shift:a/b/c/d@1h+1h", "target 'a/b/c/d' is not"),
        ("shift:s/x@1h", "no '+' before the duration"),
        ("shift:s/x@1d+1h", "start '1d' is not a duration like 90m or 1.5h"),
        ("shift:s/x@1h+60", "duration '60' is not a duration"),
        ("shift:s/x@1h+1h*big", "magnitude 'big' is not a number"),
        ("shift:s/x@1h+1h*nan", "magnitude must be a finite number"),
        ("cycle:s/x@1h+1h*2~", "period '' is not a duration"),
        ("shift:s/x@1h+0m", "duration must be positive, got 0.0"),
        ("variance:s/x@1h+1h*0", "sd factor and must be positive, got 0.0"),
        ("stratification:s/x@1h+1h*-3", "must be positive, got -3.0"),
    ],
)
def test_parse_fault_errors_name_the_bad_part(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="bad fault") as error:
        parse_fault(text)
    assert repr(text) in str(error.value)
    assert message in str(error.value)


def test_validate_faults_names_the_fault_and_target() -> None:
    line = welding_line()
    validate_faults(line, welding_faults())
    wrong = FaultSim("shift", "weld-2/welder-07/tip_temp", 10, 10, name="hot-tip")
    with pytest.raises(
        ValueError, match="fault 'hot-tip': target 'weld-2/welder-07/tip_temp' is not"
    ):
        validate_faults(line, [*welding_faults(), wrong])
    station = parse_fault("shift:paint/nugget_dia_mm@1h+1h")
    with pytest.raises(
        ValueError, match=r"fault 'shift:paint/nugget_dia_mm@1h\+1h\*1.5': target 'paint/"
    ):
        validate_faults(line, [station])


def test_simulate_rejects_bad_arguments_before_iterating() -> None:
    line = welding_line()
    with pytest.raises(ValueError, match="target 'weld-2/nope'"):
        simulate(line, START, 10, [FaultSim("shift", "weld-2/nope", 1, 1)])
    with pytest.raises(ValueError, match="timezone-aware"):
        simulate(line, datetime(2026, 11, 2, 6, 0), 10)  # naive on purpose
    with pytest.raises(ValueError, match="minutes must be >= 0"):
        simulate(line, START, -1)
    with pytest.raises(ValueError, match="seed must be >= 0"):
        simulate(line, START, 1, seed=-1)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: CharacteristicSim("a/b", 1.0, 1.0), "without '/' or whitespace"),
        (lambda: CharacteristicSim("x", 1.0, 1.0, subgroup_size=0), "subgroup_size must be at"),
        (lambda: ParameterSim("e", "p", 1.0, 1.0, phi=1.0), "phi must be in"),
        (lambda: DefectSim("d", 0.1, driver="e/p"), "driver must be 'station/equipment/name'"),
        (lambda: DefectSim("d", 0.1, lag_s=-1), "lag_s must be >= 0"),
        (lambda: StationSim("s", lot_size=0), "lot_size must be at least 1"),
        (
            lambda: StationSim("s", (CharacteristicSim("x", 1, 1), CharacteristicSim("x", 2, 1))),
            "duplicate characteristic at station 's': 'x'",
        ),
        (lambda: LineSim("L", (StationSim("s"), StationSim("s"))), "duplicate station"),
        (lambda: LineSim("L", ()), "needs at least one station"),
        (lambda: LineSim("L", (StationSim("s"),), cycle_s=0), "cycle_s must be positive"),
        (lambda: LineSim("L", (StationSim("s"),), jitter_frac=1.0), "jitter_frac must be in"),
        (
            lambda: LineSim("L", (StationSim("s", defects=(DefectSim("d", 0.1, "s/e/p"),)),)),
            "driver 's/e/p', which is not a parameter",
        ),
        (lambda: FaultSim("shift", "s", 1, 1), "target must be 'station/characteristic'"),
        (lambda: FaultSim("shift", "s/x", -1, 1), "start must be >= 0"),
        (lambda: FaultSim("cycle", "s/x", 1, 1, period_min=0), "period must be positive"),
    ],
)
def test_spec_validation(build: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError) as error:
        build()
    assert message in str(error.value)


def test_station_accepts_lists() -> None:
    from_config: Any = [CharacteristicSim("x", 1, 1)]  # what a config loader may pass
    station = StationSim("s", characteristics=from_config)
    assert isinstance(station.characteristics, tuple)
    assert hash(station)


# --------------------------------------------------------------------------- ground truth


def test_fault_windows_and_default_faults() -> None:
    faults = welding_faults()
    windows = fault_windows(faults, START)
    assert {w["kind"] for w in windows} == set(FAULT_KINDS)
    assert len({w["target"] for w in windows}) == len(windows)  # every kind on its own target
    assert [w["name"] for w in windows] == [f.name for f in faults]
    assert windows[1] == {
        "name": "tip-overheat",
        "kind": "trend",
        "target": "weld-2/welder-07/tip_temp_c",
        "start": "2026-11-02T20:00:00+00:00",
        "end": "2026-11-02T21:30:00+00:00",
    }
    spans = sorted(
        (datetime.fromisoformat(w["start"]), datetime.fromisoformat(w["end"])) for w in windows
    )
    for (_, end), (start, _) in pairwise(spans):
        assert start - end >= timedelta(hours=4)  # well separated
    assert spans[-1][1] <= START + timedelta(days=3)
    unnamed = fault_windows([parse_fault("shift:s/x@1h+30m*2")], START)
    assert unnamed[0]["name"] == "shift:s/x@1h+30m*2"
    assert unnamed[0]["end"] == "2026-11-02T07:30:00+00:00"


# --------------------------------------------------------------------------- the config


ROOT = Path(__file__).resolve().parents[2]


def test_the_config_validates_into_the_spec_types() -> None:
    simulation = load_config(ROOT / "examples" / "welding-line.yaml").simulation
    assert type(simulation) is Simulation
    assert isinstance(simulation, LineSim)  # simulate() takes it as it is
    # the example is the default line with white-noise parameters and lots of 200
    white = tuple(
        replace(
            station,
            parameters=tuple(replace(p, phi=0.0) for p in station.parameters),
            lot_size=200 if station.lot_size else None,
        )
        for station in welding_line().stations
    )
    fields = {f.name: getattr(simulation, f.name) for f in dataclasses.fields(LineSim)}
    assert LineSim(**fields) == replace(welding_line(), stations=white)
    assert simulation.faults == tuple(replace(f, name="") for f in welding_faults())
    assert (simulation.seed, simulation.start) == (20261123, START)
    assert simulation.drivers() == {"weld-2/welder-07/tip_temp_c": ("final/porosity",)}


def test_the_config_and_python_give_the_same_records() -> None:
    simulation = load_config(ROOT / "examples" / "welding-line.yaml").simulation
    assert simulation is not None
    records, truth = simulated_records(simulation, 90, seed=5)
    assert list(records) == list(simulate(simulation, START, 90, simulation.faults, seed=5))
    assert truth == fault_windows(simulation.faults, START)
    assert list(simulation.records(30)) == list(
        simulate(simulation, START, 30, simulation.faults, seed=20261123)
    )


BAD_SIMULATION = """\
lines:
  - name: L1
    stations:
      - name: press
simulation:
  line: L1
  cycle_s: 0.0001
  seeds: 3
  faults:
    - shift:press/height_mm@1h+1h*2
    - drift:press/height_mm@1h+1h
  stations:
    - name: press
      characteristics:
        - {name: height_mm, mean: 20.0, sigma: 0.1, subgroup: 5}
      parameters:
        - {equipment: ram, name: force_kn, mean: 1.0, sigma: 0.1, phi: 1.5}
      defects:
        - {code: dent, base_rate: 0.1, driver: ram/force_kn}
"""


def test_simulation_errors_name_the_yaml_path_and_line(tmp_path: Path) -> None:
    path = tmp_path / "plant.yaml"
    path.write_text(BAD_SIMULATION)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == [
        "simulation.stations[0].characteristics[0].subgroup (plant.yaml line 15): "
        "Extra inputs are not permitted (got 5)",
        "simulation.stations[0].parameters[0].phi (plant.yaml line 17): "
        "Input should be less than 1 (got 1.5)",
        "simulation.stations[0].defects[0] (plant.yaml line 19): Value error, defect 'dent': "
        "driver must be 'station/equipment/name', got 'ram/force_kn'",
        "simulation.cycle_s (plant.yaml line 7): "
        "Input should be greater than or equal to 0.001 (got 0.0001)",
        "simulation.faults[1] (plant.yaml line 11): Value error, bad fault "
        "'drift:press/height_mm@1h+1h': unknown kind 'drift'; expected one of shift, trend, "
        "variance, cycle, mixture, stratification (got 'drift:press/height_mm@1h+1h')",
        "simulation.seeds (plant.yaml line 8): Extra inputs are not permitted (got 3)",
    ]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            ("driver: press/ram/force_kn", "driver: press/ram/speed"),
            "simulation (plant.yaml line 6): Value error, line 'L1': defect 'dent' at station "
            "'press' has driver 'press/ram/speed', which is not a parameter of the line "
            "(parameters: press/ram/force_kn)",
        ),
        (
            ("shift:press/height_mm@", "shift:press/width_mm@"),
            "simulation (plant.yaml line 6): Value error, fault 'shift:press/width_mm@1h+1h*2': "
            "target 'press/width_mm' is not a characteristic or parameter of line 'L1'; known "
            "targets: press/height_mm, press/ram/force_kn",
        ),
        (
            (
                "      parameters:\n",
                "        - {name: height_mm, mean: 1, sigma: 1}\n      parameters:\n",
            ),
            "simulation.stations[0] (plant.yaml line 10): Value error, duplicate characteristic "
            "at station 'press': 'height_mm'",
        ),
    ],
)
def test_cross_checks_of_the_line_are_config_errors(
    tmp_path: Path, change: tuple[str, str], problem: str
) -> None:
    valid = (
        BAD_SIMULATION.replace("  cycle_s: 0.0001\n  seeds: 3\n", "")
        .replace(", subgroup: 5", "")
        .replace("phi: 1.5", "phi: -0.5")
        .replace("    - drift:press/height_mm@1h+1h\n", "")
        .replace("driver: ram/force_kn", "driver: press/ram/force_kn")
    )
    path = tmp_path / "plant.yaml"
    path.write_text(valid)
    assert load_config(path).simulation is not None  # negative phi is a stationary AR(1)
    assert change[0] in valid
    path.write_text(valid.replace(*change))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == [problem]


def test_the_bounds_are_the_configs() -> None:
    assert (specs.VALUE_MAX, specs.SIGMA_MIN, specs.COUNT_MAX, specs.YEAR_S) == (
        strict.VALUE_MAX,
        strict.SIGMA_MIN,
        strict.COUNT_MAX,
        strict.YEAR_S,
    )


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: ParameterSim("e", "p", 2e15, 1.0),
            "parameter e/p: mean must be <= 1000000000000000, got 2000000000000000.0",
        ),
        (
            lambda: CharacteristicSim("x", 1.0, 1e-13),
            "characteristic 'x': sigma must be >= 1e-12, got 1e-13",
        ),
        (
            lambda: CharacteristicSim("x", 1.0, 1.0, subgroup_size=51),
            "characteristic 'x': subgroup_size must be <= 50, got 51",
        ),
        (
            lambda: DefectSim("d", 0.1, sensitivity=-2e6),
            "defect 'd': sensitivity must be >= -1000000, got -2000000.0",
        ),
        (
            lambda: LineSim("L", (StationSim("s"),), cycle_s=8 * 24 * 3600.0),
            "line 'L': cycle_s must be <= 604800, got 691200.0",
        ),
        (
            lambda: FaultSim("shift", "s/x", 2e9, 1),
            "fault 'shift:s/x': start_min must be <= 1000000000, got 2000000000.0",
        ),
        (
            lambda: CharacteristicSim("x" * 201, 1.0, 1.0),
            "characteristic name must be non-empty, without '/' or whitespace, at most 200 "
            f"characters, got {'x' * 201!r}",
        ),
    ],
)
def test_construction_checks_the_same_bounds_as_the_config(
    build: Callable[[], object], message: str
) -> None:
    with pytest.raises(ValueError) as error:
        build()
    assert str(error.value) == message
