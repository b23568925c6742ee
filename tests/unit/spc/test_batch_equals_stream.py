"""The batch path (``update_many``) equals the streaming path (``update``), bit for bit.

I-MR has a specialised phase-II ``update`` and a numpy ``update_many``; both are checked
against the generic engine (``PhaseIChart.update``: ``_stats`` + ``_judge`` +
``RuleState.step``) on long seeded streams built so that every Nelson test fires, across
phase I, phase-I passes, restarts (new limits versions), given limits, uneven K and
batches split at arbitrary points. Every other chart is checked through the base path.
"""

import itertools
import math
import random
import struct
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from linewatch.detectors.base import Detector, DetectorInputError, Evaluation
from linewatch.detectors.spc import (
    CChart,
    CusumChart,
    EwmaChart,
    HotellingT2Chart,
    IMRChart,
    LaneyPChart,
    NPChart,
    PChart,
    PhaseIChart,
    RuleSet,
    UChart,
    XbarRChart,
    XbarSChart,
    ZMRChart,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def stamps(n: int, start: int = 0) -> list[datetime]:
    return [T0 + timedelta(seconds=start + i) for i in range(n)]


def patterned(
    n: int, seed: int, center: float = 10.0, sigma: float = 1.0, decimals: int | None = 2
) -> list[float]:
    """Noise with shifts, trends, zigzags, hugging, mixtures, outliers, ties and boundaries."""
    rng = random.Random(seed)
    out: list[float] = []
    while len(out) < n:
        kind = rng.randrange(10)
        length = rng.randint(5, 30)
        if kind == 0:  # sustained shift: tests 2, 5, 6, 8
            shift = rng.choice((-1, 1)) * rng.uniform(1.0, 2.5) * sigma
            out += [center + shift + rng.gauss(0, 0.6 * sigma) for _ in range(length)]
        elif kind == 1:  # trend: test 3
            step = rng.choice((-1, 1)) * 0.15 * sigma
            out += [center + step * (i - length / 2) for i in range(length)]
        elif kind == 2:  # zigzag: test 4
            out += [center + (-1) ** i * rng.uniform(0.2, 1.2) * sigma for i in range(length)]
        elif kind == 3:  # hugging the center: test 7
            out += [center + rng.uniform(-0.5, 0.5) * sigma for _ in range(length)]
        elif kind == 4:  # mixture either side: test 8
            out += [
                center + rng.choice((-1, 1)) * rng.uniform(1.1, 2.5) * sigma for _ in range(length)
            ]
        elif kind == 5:  # outliers: test 1 on both charts
            out += [center + rng.choice((-1, 1)) * rng.uniform(3.0, 6.0) * sigma]
        elif kind == 6:  # exact center line, ties, and exact zone boundaries
            out += [
                rng.choice(
                    (
                        center,
                        center + sigma,
                        center - sigma,
                        center + 2 * sigma,
                        center - 2 * sigma,
                        center + 3 * sigma,
                        center - 3 * sigma,
                    )
                )
                for _ in range(rng.randint(1, 6))
            ]
        else:
            out += [rng.gauss(center, sigma) for _ in range(length)]
    out = out[:n]
    return out if decimals is None else [round(v, decimals) for v in out]


def bits(value: Any) -> Any:
    """Floats by their bit pattern (so -0.0 != 0.0 and 1e-300 differences count)."""
    if isinstance(value, float):
        return ("float", struct.pack("<d", value))
    if isinstance(value, tuple):
        return tuple(bits(v) for v in value)
    return (type(value).__name__, value)


def exact(evaluations: Sequence[Evaluation]) -> list[Any]:
    out = []
    for e in evaluations:
        assert type(e) is Evaluation
        row: list[Any] = []
        for item in (*e.points, *e.signals):
            row.append((type(item).__name__, tuple(bits(getattr(item, f)) for f in item.__slots__)))  # type: ignore[attr-defined]
        out.append(row)
    return out


def generic(chart: PhaseIChart) -> Callable[[datetime, Any], Evaluation]:
    """The unspecialised per-sample engine (the reference)."""
    return lambda ts, x: PhaseIChart.update(chart, ts, x)


def run_three_ways(
    make: Callable[[], IMRChart],
    values: list[Any],
    cuts: Sequence[int],
    restart_at: Sequence[int] = (),
) -> None:
    """Generic per-sample, fast per-sample and update_many in chunks: identical output."""
    reference, streaming, batch = make(), make(), make()
    ts = stamps(len(values))
    ref_out: list[Evaluation] = []
    fast_out: list[Evaluation] = []
    batch_out: list[Evaluation] = []
    bounds = sorted({0, len(values), *cuts, *restart_at})
    for lo, hi in itertools.pairwise(bounds):
        if lo in restart_at:
            for chart in (reference, streaming, batch):
                chart.restart_phase1()
        step = generic(reference)
        ref_out += [step(t, x) for t, x in zip(ts[lo:hi], values[lo:hi], strict=True)]
        fast_out += [streaming.update(t, x) for t, x in zip(ts[lo:hi], values[lo:hi], strict=True)]
        batch_out += batch.update_many(ts[lo:hi], values[lo:hi])
        assert reference.snapshot() == streaming.snapshot() == batch.snapshot()
        assert reference._get_state() == streaming._get_state() == batch._get_state()
    assert exact(fast_out) == exact(ref_out)
    assert exact(batch_out) == exact(ref_out)
    assert batch_out == ref_out


def fired_rules(outs: Sequence[Evaluation], chart: str) -> set[str]:
    return {s.rule for e in outs for s in e.signals if s.chart == chart}


IMR_CASES: dict[str, Callable[[], IMRChart]] = {
    "nelson_phase1": lambda: IMRChart(phase1=25, rules=RuleSet.nelson()),
    "nelson_known": lambda: IMRChart(center=10.0, sigma=1.0, rules=RuleSet.nelson()),
    "nelson_both_charts": lambda: IMRChart(
        center=10.0, sigma=1.0, rules=RuleSet.nelson(), dispersion_rules=RuleSet.nelson()
    ),
    "western_electric_passes": lambda: IMRChart(
        phase1=40, phase1_passes=2, rules=RuleSet.western_electric()
    ),
    "custom_k": lambda: IMRChart(
        phase1=30,
        k_sigma=2.5,
        rules=RuleSet(tests=range(1, 9), k={1: 2.0, 2: 5, 3: 3, 4: 5, 5: 3, 6: 2, 7: 6, 8: 3}),
    ),
    "k1_above_k_sigma": lambda: IMRChart(
        center=10.0, sigma=1.0, rules=RuleSet(tests=range(1, 9), k={1: 3.5, 5: 62, 6: 1})
    ),
    "default_rules": lambda: IMRChart(phase1=20),
    "no_rules": lambda: IMRChart(phase1=20, rules=RuleSet.none(), dispersion_rules=RuleSet.none()),
    "given_limits": lambda: IMRChart(
        limits={"individuals": (10.0, 7.5, 13.0), "moving_range": (1.1, 0.0, 3.6)},
        rules=RuleSet.nelson(),
        dispersion_rules=RuleSet(tests=(1, 2, 3)),
    ),
    "median_mr_exact": lambda: IMRChart(
        phase1=25, sigma_method="median_mr", constants="exact", rules=RuleSet.nelson()
    ),
    "overall": lambda: IMRChart(phase1=25, sigma_method="overall", rules=RuleSet.nelson()),
}


@pytest.mark.parametrize("case", sorted(IMR_CASES))
@pytest.mark.parametrize("seed", [1, 2])
def test_imr_batch_and_fast_stream_equal_generic(case: str, seed: int) -> None:
    values = patterned(2000, seed)
    rng = random.Random(seed)
    cuts = [*sorted(rng.sample(range(1, 2000), 10)), 1, 2, 17, 18, 19]
    run_three_ways(IMR_CASES[case], values, cuts, restart_at=(1000, 1600))


def test_imr_every_rule_fires_and_matches() -> None:
    make = IMR_CASES["nelson_both_charts"]
    values = patterned(6000, 11)
    run_three_ways(make, values, cuts=(2000, 2001, 4321))
    outs = make().update_many(stamps(len(values)), values)
    assert fired_rules(outs, "individuals") == {f"nelson{t}" for t in range(1, 9)}
    assert fired_rules(outs, "moving_range") == {f"nelson{t}" for t in range(1, 9)}


def test_imr_unrounded_and_huge_values() -> None:
    run_three_ways(IMR_CASES["nelson_phase1"], patterned(4000, 5, decimals=None), cuts=(100,))
    run_three_ways(
        lambda: IMRChart(phase1=25, rules=RuleSet.nelson()),
        patterned(2000, 6, center=1e12, sigma=1e-3, decimals=None),
        cuts=(700,),
    )
    run_three_ways(
        lambda: IMRChart(phase1=25, rules=RuleSet.nelson()),
        # the smallest scale the charts take (a phase-I sigma below 1e-100 is refused)
        patterned(2000, 7, center=0.0, sigma=1e-90, decimals=None),
        cuts=(700,),
    )


def test_imr_batch_sizes_around_the_numpy_threshold() -> None:
    values = patterned(600, 8)
    for size in (1, 2, 3, 15, 16, 17, 33, 200):
        cuts = list(range(size, len(values), size))
        run_three_ways(IMR_CASES["nelson_phase1"], values, cuts)


def test_imr_mixed_input_types_take_the_per_sample_path() -> None:
    values: list[Any] = patterned(300, 9)
    values[150] = 10  # an int: accepted, plotted as 10.0
    values[151] = True
    run_three_ways(IMR_CASES["nelson_known"], values, cuts=(100,))


@pytest.mark.parametrize("bad", [math.nan, math.inf, "10.0", [10.0]])
def test_imr_bad_input_in_a_batch_fails_at_the_same_point(bad: Any) -> None:
    values: list[Any] = patterned(200, 10)
    values[120] = bad
    streaming, batch = IMR_CASES["nelson_phase1"](), IMR_CASES["nelson_phase1"]()
    ts = stamps(len(values))
    for t, x in zip(ts[:120], values[:120], strict=True):
        streaming.update(t, x)
    with pytest.raises(DetectorInputError):
        streaming.update(ts[120], bad)
    with pytest.raises(DetectorInputError):
        batch.update_many(ts, values)
    assert batch.snapshot() == streaming.snapshot()
    with pytest.raises(DetectorInputError):
        batch.update_many(ts[:3], values[:2])


def test_imr_restore_then_batch_continues_identically() -> None:
    values = patterned(1000, 12)
    ts = stamps(len(values))
    chart = IMR_CASES["nelson_phase1"]()
    chart.update_many(ts[:400], values[:400])
    twin = chart.clone()
    twin.restore(chart.snapshot())
    reference = chart.clone()
    reference.restore(chart.snapshot())
    step = generic(reference)
    expected = [step(t, x) for t, x in zip(ts[400:], values[400:], strict=True)]
    assert exact(twin.update_many(ts[400:], values[400:])) == exact(expected)
    assert exact(
        [chart.update(t, x) for t, x in zip(ts[400:], values[400:], strict=True)]
    ) == exact(expected)
    assert twin.snapshot() == chart.snapshot() == reference.snapshot()


def test_imr_score_uses_the_fast_path_without_learning() -> None:
    chart = IMR_CASES["nelson_known"]()
    values = patterned(200, 13)
    for t, x in zip(stamps(200), values, strict=True):
        before = chart.snapshot()
        scored = chart.score(t, x)
        assert chart.snapshot() == before
        assert exact([scored]) == exact([chart.update(t, x)])


# -- every other chart, through the base path ------------------------------------------------


def _groups(n: int, seed: int) -> list[Any]:
    rng = random.Random(seed)
    return [
        [
            round(rng.gauss(5.0 + (0.4 if 300 < i < 400 else 0.0), 0.5), 3)
            for _ in range(rng.choice((3, 4, 5)))
        ]
        for i in range(n)
    ]


def _counts(n: int, seed: int) -> list[Any]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        size = rng.choice((80, 100, 120))
        rate = 0.12 if 300 < i < 400 else 0.08
        out.append({"count": sum(rng.random() < rate for _ in range(size)), "size": size})
    return out


def _vectors(n: int, seed: int) -> list[Any]:
    rng = random.Random(seed)
    return [
        {
            "a": rng.gauss(0.0, 1.0),
            "b": rng.gauss(0.0, 1.0) + (4.0 if i > 400 else 0.0),
            "c": rng.gauss(3.0, 0.2),
        }
        for i in range(n)
    ]


def _parts(n: int, seed: int) -> list[Any]:
    rng = random.Random(seed)
    targets = {"PN-1": (10.0, 0.5), "PN-2": (50.0, 2.0)}
    out = []
    for _ in range(n):
        part = rng.choice(sorted(targets))
        mean, sd = targets[part]
        out.append({"part": part, "value": round(rng.gauss(mean, sd), 3)})
    return out


def _floats(n: int, seed: int) -> list[Any]:
    return patterned(n, seed)


OTHER_CASES: dict[str, tuple[Callable[[], Detector], Callable[[int, int], list[Any]]]] = {
    "xbar_r": (lambda: XbarRChart(phase1=20, rules=RuleSet.nelson(), phase1_passes=1), _groups),
    "xbar_s": (lambda: XbarSChart(phase1=20, rules=RuleSet.nelson()), _groups),
    "p": (lambda: PChart(phase1=25, rules=RuleSet.nelson()), _counts),
    "np": (lambda: NPChart(phase1=25, phase1_passes=1), _counts),
    "c": (lambda: CChart(phase1=25, rules=RuleSet.western_electric()), _counts),
    "u": (lambda: UChart(phase1=25, rules=RuleSet.nelson()), _counts),
    "laney_p": (lambda: LaneyPChart(phase1=25), _counts),
    "cusum": (lambda: CusumChart(phase1=20, headstart=0.5), _floats),
    "ewma": (lambda: EwmaChart(phase1=20, lam=0.2), _floats),
    "t2": (lambda: HotellingT2Chart(names=("a", "b", "c"), phase1=30), _vectors),
    "zmr": (lambda: ZMRChart(phase1=30, rules=RuleSet.nelson()), _parts),
}


@pytest.mark.parametrize("case", sorted(OTHER_CASES))
def test_other_charts_batch_equals_stream(case: str) -> None:
    make, data = OTHER_CASES[case]
    values = data(600, 21)
    ts = stamps(len(values))
    streaming, batch = make(), make()
    one_by_one = [streaming.update(t, x) for t, x in zip(ts, values, strict=True)]
    batched: list[Evaluation] = []
    for lo, hi in ((0, 7), (7, 250), (250, 251), (251, 600)):
        batched += batch.update_many(ts[lo:hi], values[lo:hi])
    assert exact(batched) == exact(one_by_one)
    assert batch.snapshot() == streaming.snapshot()
    assert any(e.signals for e in one_by_one)
