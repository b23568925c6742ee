"""I-MR phase II over a whole array, kept as columns: the batch hot path.

:func:`judge_columns` runs both charts' rules and zones over a numpy array with the same
float operations as the per-sample path (so the bits are identical) and advances the
chart's state; :class:`IMRColumns` holds the result as arrays and builds a point's
:class:`~linewatch.detectors.base.Evaluation` only when asked for it. A caller that needs
only the signals (an alert path, a replay with no chart-point sink) never pays for the
per-sample objects: that is what makes the batch path tens of times faster than building
two ``PlotPoint`` per sample.

``IMRColumns`` is a ``Sequence[Evaluation]``: ``list(columns)`` equals ``update`` called
on each value, element for element (``tests/unit/spc/test_columnar.py`` proves it).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, overload

import numpy as np

from linewatch.detectors.base import Evaluation, PlotPoint, Signal
from linewatch.detectors.spc.rules import RuleState
from linewatch.detectors.spc.steppers import ZONES, step, steps, zone_codes

__all__ = ["CHUNK", "Columns", "IMRColumns", "Plan", "judge_columns"]

#: A chart's per-limits-version constants (see ``IMRChart._plan``).
Plan = tuple[Any, ...]

_EMPTY: tuple[Any, ...] = ()


#: Values judged at a time: numpy's temporaries then stay in the CPU caches (measured
#: 2x faster than one pass over 300,000 values; 4,096 is slower again, per-call costs).
CHUNK = 16_384
#: Fewer values than this are judged one by one with ``step``: the vectorised tests cost
#: about 130 µs a call whatever the size, the loop about 1.3 µs a value: even at about 110
#: (``bench/bench_judge_crossover.py``).
SMALL = 112

Columns = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def judge_columns(
    ind_rules: RuleState,
    mr_rules: RuleState,
    plans: tuple[Plan, Plan],
    previous: float | None,
    x: np.ndarray,
) -> Columns:
    """Rule bits and zone codes of both charts over ``x``; advances both rule states.

    Returns ``(fired, zones, mr, mr_fired, mr_zones)``: the moving-range arrays are one
    shorter than ``x`` when ``previous`` is ``None`` (the very first observation has no
    moving range). ``x`` is float64 and non-empty; ``previous`` the value before it.
    """
    if x.size <= CHUNK:
        return _judge_chunk(ind_rules, mr_rules, plans, previous, x)
    parts = []
    for start in range(0, x.size, CHUNK):
        chunk = x[start : start + CHUNK]
        parts.append(_judge_chunk(ind_rules, mr_rules, plans, previous, chunk))
        previous = float(chunk[-1])
    fired, zones, mr, mr_fired, mr_zones = zip(*parts, strict=True)
    return (
        np.concatenate(fired),
        np.concatenate(zones),
        np.concatenate(mr),
        np.concatenate(mr_fired),
        np.concatenate(mr_zones),
    )


def _judge_chunk(
    ind_rules: RuleState,
    mr_rules: RuleState,
    plans: tuple[Plan, Plan],
    previous: float | None,
    x: np.ndarray,
) -> Columns:
    if x.size < SMALL:
        return _judge_small(ind_rules, mr_rules, plans, previous, x)
    plan, mr_plan = plans
    c, s, s2, lcl, ucl, hi1, lo1, cu1, cl1, cu2, cl2 = plan[1:12]
    last = float(x[-1])
    fired = steps(ind_rules, x, last, c, hi1, lo1, cu1, cl1, cu2, cl2, *plan[14:], enabled=plan[13])
    zones = zone_codes(x, c, s, s2, lcl, ucl)
    if previous is None:
        mr = np.abs(x[1:] - x[:-1])
    else:
        shifted = np.empty_like(x)
        shifted[0] = previous
        shifted[1:] = x[:-1]
        mr = np.abs(x - shifted)
    if mr.size:
        mc, ms, ms2, mlcl, mucl, mhi1, mlo1, mcu1, mcl1, mcu2, mcl2 = mr_plan[1:12]
        mr_last = float(mr[-1])
        mr_fired = steps(
            mr_rules,
            mr,
            mr_last,
            mc,
            mhi1,
            mlo1,
            mcu1,
            mcl1,
            mcu2,
            mcl2,
            *mr_plan[14:],
            enabled=mr_plan[13],
        )
        mr_zones = zone_codes(mr, mc, ms, ms2, mlcl, mucl)
    else:
        mr_fired = mr_zones = np.zeros(0, dtype=np.uint8)
    return fired, zones, mr, mr_fired, mr_zones


def _judge_small(
    ind_rules: RuleState,
    mr_rules: RuleState,
    plans: tuple[Plan, Plan],
    previous: float | None,
    x: np.ndarray,
) -> Columns:
    """:func:`_judge_chunk` one value at a time, as ``IMRChart.update`` judges them."""
    plan, mr_plan = plans
    c, s, s2, lcl, ucl, hi1, lo1, cu1, cl1, cu2, cl2 = plan[1:12]
    enabled, tests = plan[13], plan[14:]
    mc, ms, ms2, mlcl, mucl, mhi1, mlo1, mcu1, mcl1, mcu2, mcl2 = mr_plan[1:12]
    mr_enabled, mr_tests = mr_plan[13], mr_plan[14:]
    fired, zones, mr, mr_fired, mr_zones = [], [], [], [], []
    prev = previous
    for v in x.tolist():
        fired.append(step(ind_rules, v, c, hi1, lo1, cu1, cl1, cu2, cl2, *tests) & enabled)
        d = abs(v - c)
        zones.append(3 if v > ucl or v < lcl else 0 if d <= s else 1 if d <= s2 else 2)
        if prev is not None:
            m = abs(v - prev)
            mr.append(m)
            bits = step(mr_rules, m, mc, mhi1, mlo1, mcu1, mcl1, mcu2, mcl2, *mr_tests)
            mr_fired.append(bits & mr_enabled)
            d = abs(m - mc)
            mr_zones.append(3 if m > mucl or m < mlcl else 0 if d <= ms else 1 if d <= ms2 else 2)
        prev = v
    u8 = np.uint8
    return (
        np.array(fired, dtype=u8),
        np.array(zones, dtype=u8),
        np.array(mr, dtype=np.float64),
        np.array(mr_fired, dtype=u8),
        np.array(mr_zones, dtype=u8),
    )


class IMRColumns(Sequence[Evaluation]):
    """What ``update`` would have returned for each value of a batch, as columns.

    ``head`` holds the evaluations of the batch's first values that went through the
    per-sample path (phase I); the columns cover the rest. ``index0`` is the chart index
    of the first columnar value; ``first_alone`` says it has no moving range.
    """

    __slots__ = (
        "_stamps",
        "fired",
        "first_alone",
        "head",
        "index0",
        "mr",
        "mr_fired",
        "mr_zones",
        "plans",
        "values",
        "zones",
    )

    def __init__(
        self,
        head: list[Evaluation],
        stamps: Sequence[datetime],
        values: np.ndarray,
        index0: int,
        first_alone: bool,
        plans: tuple[Plan, Plan],
        columns: Columns,
    ) -> None:
        self.head = head
        self._stamps = stamps
        self.values = values
        self.index0 = index0
        self.first_alone = first_alone
        self.plans = plans
        self.fired, self.zones, self.mr, self.mr_fired, self.mr_zones = columns

    def __len__(self) -> int:
        return len(self.head) + self.values.size

    @overload
    def __getitem__(self, i: int) -> Evaluation: ...

    @overload
    def __getitem__(self, i: slice) -> list[Evaluation]: ...

    def __getitem__(self, i: int | slice) -> Evaluation | list[Evaluation]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError("IMRColumns index out of range")
        h = len(self.head)
        if i < h:
            return self.head[i]
        return self._evaluation(i - h)

    def __iter__(self) -> Iterator[Evaluation]:
        yield from self.head
        yield from self.evaluations()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"IMRColumns({len(self)} evaluations, {self.signal_count()} signals)"

    # -- the columns' own views --------------------------------------------------------

    def _mr_at(self, j: int) -> int:
        """Position in the moving-range columns of columnar value ``j`` (-1: none)."""
        return j - 1 if self.first_alone else j

    def signalled(self) -> np.ndarray:
        """Positions (in the columns) of the values whose evaluation holds a signal."""
        any_fired = self.fired != 0
        if self.mr_fired.size:
            any_fired[1 if self.first_alone else 0 :] |= self.mr_fired != 0
        return np.flatnonzero(any_fired)

    def signal_count(self) -> int:
        """Number of signals in the whole batch (phase-I head included)."""
        bits = np.unpackbits(self.fired.astype(np.uint8)).sum() if self.fired.size else 0
        mbits = np.unpackbits(self.mr_fired.astype(np.uint8)).sum() if self.mr_fired.size else 0
        return int(bits + mbits) + sum(len(e.signals) for e in self.head)

    def signals(self) -> list[Signal]:
        """Every signal of the batch in order, as the evaluations hold them."""
        found = [s for e in self.head for s in e.signals]
        at = self.signalled()
        if not at.size:
            return found
        plan, mr_plan = self.plans
        c, lcl, ucl, described = plan[1], plan[4], plan[5], plan[12]
        mc, mlcl, mucl, mdescribed = mr_plan[1], mr_plan[4], mr_plan[5], mr_plan[12]
        shift = 1 if self.first_alone else 0
        k = at - shift  # positions in the moving-range columns; -1 for a first alone
        has_mr = k >= 0
        mfired = np.zeros(at.size, dtype=np.uint8)
        mfired[has_mr] = self.mr_fired[k[has_mr]]
        mrs = np.zeros(at.size)
        mrs[has_mr] = self.mr[k[has_mr]]
        stamps, index0, signal_type = self._stamps, self.index0, Signal
        for j, v, f, m, mf in zip(
            at.tolist(),
            self.values[at].tolist(),
            self.fired[at].tolist(),
            mrs.tolist(),
            mfired.tolist(),
            strict=True,
        ):
            ts, index = stamps[j], index0 + j
            if f:
                for name, text in described[f][1]:
                    found.append(signal_type(ts, name, "individuals", index, v, c, lcl, ucl, text))
            if mf:
                for name, text in mdescribed[mf][1]:
                    found.append(
                        signal_type(ts, name, "moving_range", index, m, mc, mlcl, mucl, text)
                    )
        return found

    def evaluations(self) -> list[Evaluation]:
        """The columnar part as evaluations (what the per-sample path builds)."""
        if not self.values.size:
            return []
        stamps = self._stamps
        plan, mr_plan = self.plans
        version, c, lcl, ucl, described = plan[0], plan[1], plan[4], plan[5], plan[12]
        mc, mlcl, mucl, mdescribed = mr_plan[1], mr_plan[4], mr_plan[5], mr_plan[12]
        values = self.values.tolist()
        fired, zones = self.fired.tolist(), self.zones.tolist()
        mrs, mfired, mzones = self.mr.tolist(), self.mr_fired.tolist(), self.mr_zones.tolist()
        point_type, signal_type, evaluation_type = PlotPoint, Signal, Evaluation
        zone_names = ZONES
        empty = _EMPTY
        out: list[Evaluation] = []
        append = out.append
        index = self.index0
        first = 1 if self.first_alone else 0
        if first:
            append(self._evaluation(0))
            index += 1
        for ts, v, f, z, mr, mf, mz in zip(
            stamps[first : len(values)],
            values[first:],
            fired[first:],
            zones[first:],
            mrs,
            mfired,
            mzones,
            strict=True,
        ):
            if f or mf:
                signals: list[Signal] = []
                if f:
                    names, signalled = described[f]
                    signals += [
                        signal_type(ts, name, "individuals", index, v, c, lcl, ucl, text)
                        for name, text in signalled
                    ]
                else:
                    names = empty
                point = point_type(
                    ts, "individuals", index, v, c, lcl, ucl, version, zone_names[z], names
                )
                if mf:
                    names, signalled = mdescribed[mf]
                    signals += [
                        signal_type(ts, name, "moving_range", index, mr, mc, mlcl, mucl, text)
                        for name, text in signalled
                    ]
                else:
                    names = empty
                mpoint = point_type(
                    ts, "moving_range", index, mr, mc, mlcl, mucl, version, zone_names[mz], names
                )
                append(evaluation_type((point, mpoint), tuple(signals)))
            else:
                append(
                    evaluation_type(
                        (
                            point_type(
                                ts, "individuals", index, v, c, lcl, ucl, version, zone_names[z]
                            ),
                            point_type(
                                ts,
                                "moving_range",
                                index,
                                mr,
                                mc,
                                mlcl,
                                mucl,
                                version,
                                zone_names[mz],
                            ),
                        ),
                        empty,
                    )
                )
            index += 1
        return out

    def _evaluation(self, j: int) -> Evaluation:
        """The evaluation of columnar value ``j``, built on its own."""
        plan, mr_plan = self.plans
        ts = self._stamps[j]
        index = self.index0 + j
        v = float(self.values[j])
        f = int(self.fired[j])
        signals = _points_and_signals(plan, ts, "individuals", index, v, f, int(self.zones[j]))
        point, found = signals
        k = self._mr_at(j)
        if k < 0:
            return Evaluation((point,), tuple(found))
        mf = int(self.mr_fired[k])
        mpoint, mfound = _points_and_signals(
            mr_plan, ts, "moving_range", index, float(self.mr[k]), mf, int(self.mr_zones[k])
        )
        return Evaluation((point, mpoint), tuple(found + mfound) if f or mf else _EMPTY)


def _points_and_signals(
    plan: Plan, ts: datetime, chart: str, index: int, v: float, fired: int, zone: int
) -> tuple[PlotPoint, list[Signal]]:
    version, c, lcl, ucl, described = plan[0], plan[1], plan[4], plan[5], plan[12]
    if not fired:
        return PlotPoint(ts, chart, index, v, c, lcl, ucl, version, ZONES[zone]), []
    names, signalled = described[fired]
    signals = [Signal(ts, name, chart, index, v, c, lcl, ucl, text) for name, text in signalled]
    return PlotPoint(ts, chart, index, v, c, lcl, ucl, version, ZONES[zone], names), signals
