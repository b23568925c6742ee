"""The columnar batch path (``IMRChart.update_batch``) equals ``update`` one by one, bit for bit.

Hypothesis draws series on a coarse grid around the center (so ties, exact zone
boundaries, the center line itself and every Nelson test occur), a phase-I length or given
limits, the tests' K, the cuts between batches, and whether short batches are judged one
value at a time (``SMALL``) or vectorised; the evaluations, the signals and the chart's
final state (its snapshot) must all be equal.
"""

import contextlib
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linewatch.detectors.base import DetectorInputError, Signal
from linewatch.detectors.spc import IMRChart, RuleSet, columnar
from linewatch.detectors.spc.columnar import CHUNK, SMALL, IMRColumns

T0 = datetime(2026, 1, 1, tzinfo=UTC)

# Quarter-sigma steps from -5 to +5 sigma around 10 (sigma 1 when limits are given).
GRID = st.integers(-20, 20).map(lambda q: 10.0 + q / 4)
NOISE = st.floats(5.0, 15.0, allow_nan=False)
SERIES = st.lists(st.one_of(GRID, GRID, NOISE), min_size=1, max_size=300)
KS = st.fixed_dictionaries(
    {},
    optional={
        2: st.integers(1, 10),
        3: st.integers(1, 8),
        4: st.integers(1, 15),
        5: st.integers(1, 4),
        6: st.integers(1, 6),
        7: st.integers(1, 16),
        8: st.integers(1, 9),
        1: st.sampled_from([2.0, 2.5, 3.0]),
    },
)


@contextlib.contextmanager
def judged_by(small: int) -> Iterator[None]:
    """Batches shorter than ``small`` judged one value at a time (0: always vectorised)."""
    columnar.SMALL = small
    try:
        yield
    finally:
        columnar.SMALL = SMALL


SMALLS = st.sampled_from([0, SMALL, 10**6])


def make(phase1: int | None, k: dict[int, float], passes: int) -> IMRChart:
    rules = RuleSet(tests=range(1, 9), k=k)
    mr_rules = RuleSet(tests=(1, 2, 5), k={k_: v for k_, v in k.items() if k_ in (1, 2, 5)})
    if phase1 is None:
        return IMRChart(center=10.0, sigma=1.0, rules=rules, dispersion_rules=mr_rules)
    return IMRChart(phase1=phase1, rules=rules, dispersion_rules=mr_rules, phase1_passes=passes)


def one_by_one(chart: IMRChart, stamps: list[datetime], values: list[float]) -> list[object]:
    out: list[object] = []
    for ts, x in zip(stamps, values, strict=True):
        try:
            out.append(chart.update(ts, x))
        except DetectorInputError as exc:  # an inestimable phase I: the window slides
            out.append(str(exc))
    return out


def in_batches(
    chart: IMRChart, stamps: list[datetime], values: list[float], cuts: list[int]
) -> list[object]:
    out: list[object] = []
    bounds = [0, *sorted(c for c in set(cuts) if 0 < c < len(values)), len(values)]
    for lo, hi in itertools.pairwise(bounds):
        out += list(chart.update_batch(stamps[lo:hi], np.array(values[lo:hi])))
    return out


@settings(max_examples=300, deadline=None)
@given(
    values=SERIES,
    phase1=st.one_of(st.none(), st.integers(2, 40)),
    passes=st.integers(0, 2),
    k=KS,
    cuts=st.lists(st.integers(0, 300), max_size=6),
    small=SMALLS,
)
def test_update_batch_equals_update(
    values: list[float],
    phase1: int | None,
    passes: int,
    k: dict[int, float],
    cuts: list[int],
    small: int,
) -> None:
    with judged_by(small):
        _batch_equals_update(values, phase1, passes, k, cuts)


def _batch_equals_update(
    values: list[float], phase1: int | None, passes: int, k: dict[int, float], cuts: list[int]
) -> None:
    stamps = [T0 + timedelta(seconds=i) for i in range(len(values))]
    reference = make(phase1, k, passes)
    expected = one_by_one(reference, stamps, values)
    if any(isinstance(e, str) for e in expected):
        return  # phase I of equal values: the per-sample path raises; covered below
    chart = make(phase1, k, passes)
    got = in_batches(chart, stamps, values, cuts)
    assert got == expected
    assert chart.snapshot() == reference.snapshot()
    # and the same once more from the final state, as one batch
    more = [10.0 + (i % 7 - 3) * 0.75 for i in range(50)]
    later = [stamps[-1] + timedelta(seconds=1 + i) for i in range(50)]
    expected_more = one_by_one(reference, later, more)
    if any(isinstance(e, str) for e in expected_more):
        return  # a phase I still open can meet equal values again (7.75 twice)
    assert list(chart.update_batch(later, more)) == expected_more


TESTS = st.sets(st.integers(1, 8))


@settings(max_examples=200, deadline=None)
@given(values=SERIES, tests=TESTS, mr_tests=TESTS, k=KS, cuts=st.lists(st.integers(0, 300)))
def test_disabled_tests_keep_their_state_when_judged_in_columns(
    values: list[float], tests: set[int], mr_tests: set[int], k: dict[int, float], cuts: list[int]
) -> None:
    """The vectorised steps skip a disabled test's per-point bits but not its state."""

    def chart() -> IMRChart:
        return IMRChart(
            center=10.0,
            sigma=1.0,
            rules=RuleSet(tests=sorted(tests), k=k),
            dispersion_rules=RuleSet(tests=sorted(mr_tests), k=k),
        )

    stamps = [T0 + timedelta(seconds=i) for i in range(len(values))]
    reference = chart()
    expected = one_by_one(reference, stamps, values)
    with judged_by(0):
        batched = chart()
        assert in_batches(batched, stamps, values, cuts) == expected
    assert batched.snapshot() == reference.snapshot()


@settings(max_examples=100, deadline=None)
@given(values=SERIES, k=KS, small=SMALLS)
def test_signals_and_counts_come_from_the_columns(
    values: list[float], k: dict[int, float], small: int
) -> None:
    stamps = [T0 + timedelta(seconds=i) for i in range(len(values))]
    expected = one_by_one(make(None, k, 0), stamps, values)
    with judged_by(small):
        batch = make(None, k, 0).update_batch(stamps, np.array(values))
    signals = [s for e in expected for s in e.signals]  # type: ignore[attr-defined]
    assert batch.signals() == signals
    assert batch.signal_count() == len(signals)
    assert len(batch) == len(expected)
    assert [batch[i] for i in range(len(batch))] == expected
    assert batch[-1] == expected[-1]
    assert batch[1:3] == expected[1:3]


def test_a_hand_computed_batch() -> None:
    """Center 10, sigma 1: 14 fires test 1; its moving range 4 > D4-based 3.686 fires too."""
    chart = IMRChart(center=10.0, sigma=1.0, rules=RuleSet.nelson())
    stamps = [T0 + timedelta(seconds=i) for i in range(3)]
    batch = chart.update_batch(stamps, np.array([10.0, 14.0, 10.5]))
    assert isinstance(batch, IMRColumns)
    assert batch.zones.tolist() == [0, 3, 0]
    assert batch.mr.tolist() == [4.0, 3.5]
    assert batch.fired.tolist() == [0, 1, 0]
    assert batch.mr_fired.tolist() == [1, 0]
    assert [(s.rule, s.chart, s.index, s.value) for s in batch.signals()] == [
        ("nelson1", "individuals", 1, 14.0),
        ("nelson1", "moving_range", 1, 4.0),
    ]
    assert batch.signalled().tolist() == [1]


def test_a_value_that_is_not_finite_raises_where_update_does() -> None:
    chart = IMRChart(center=10.0, sigma=1.0)
    stamps = [T0 + timedelta(seconds=i) for i in range(3)]
    with pytest.raises(DetectorInputError):
        chart.update_batch(stamps, [10.0, float("nan"), 11.0])
    assert chart.snapshot() == _after(IMRChart(center=10.0, sigma=1.0), stamps[0], 10.0)


def _after(chart: IMRChart, ts: datetime, x: float) -> bytes:
    chart.update(ts, x)
    return chart.snapshot()


def test_batches_longer_than_a_chunk_carry_the_state_across_chunks() -> None:
    values = [10.0 + ((i * 7919) % 23 - 11) / 5 for i in range(2 * CHUNK + 77)]
    values[CHUNK - 3 : CHUNK + 12] = [11.5] * 15  # a run of test 2 across the boundary
    stamps = [T0 + timedelta(seconds=i) for i in range(len(values))]
    reference = make(None, {}, 0)
    expected = one_by_one(reference, stamps, values)
    chart = make(None, {}, 0)
    assert list(chart.update_batch(stamps, np.array(values))) == expected
    assert chart.snapshot() == reference.snapshot()
    assert any(s.rule == "nelson2" and s.index == CHUNK + 5 for s in chart_signals(expected))


def chart_signals(evaluations: list[object]) -> list[Signal]:
    return [s for e in evaluations for s in e.signals]  # type: ignore[attr-defined]
