"""Nelson's tests, stepped: the one scalar rule step and its vectorised twin.

:class:`~linewatch.detectors.spc.rules.RuleState` holds a chart's rule state;
:func:`step` advances it by one point and is the only scalar implementation of the tests
(``RuleState.step`` computes the bounds and calls it; the I-MR phase-II hot path calls it
with bounds precomputed once per limits version). :func:`steps` does the same over a numpy
array for ``update_many``, giving bit-identical masks and the same final state.

>>> from linewatch.detectors.spc.rules import RuleSet, RuleState
>>> state = RuleState(RuleSet.nelson())
>>> bits = [step(state, x, 0.0, 3.0, -3.0, 1.0, -1.0, 2.0, -2.0, *state.plan()) for x in (2.5, 2.6, 0.1)]
>>> bits  # the second point completes test 5 (2 of 3 beyond 2 sigma)
[0, 16, 0]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # rules.py imports this module
    from linewatch.detectors.spc.rules import RuleState

__all__ = ["ZONES", "step", "steps", "zone_codes"]


def step(
    rs: RuleState,
    x: float,
    c: float,
    hi1: float,
    lo1: float,
    cu1: float,
    cl1: float,
    cu2: float,
    cl2: float,
    k2: int,
    k3: int,
    k4: int,
    k5: int,
    k6: int,
    k7: int,
    k8: int,
    m5: int,
    m6: int,
) -> int:
    """The rule step: judge ``x`` against precomputed bounds, advance ``rs``.

    ``hi1``/``lo1`` are test 1's thresholds, ``cu1``/``cl1`` and ``cu2``/``cl2`` the 1- and
    2-sigma bounds (``cu2 >= cu1``, ``cl2 <= cl1``), ``k2``..``k8`` the tests' K and
    ``m5``/``m6`` the K+1-bit window masks of tests 5 and 6. Returns every test's bit
    (the caller masks the enabled ones).
    """
    fired = 1 if x > hi1 or x < lo1 else 0
    run = rs.side_run
    if x > c:
        run = run + 1 if run > 0 else 1
        if run >= k2:
            fired |= 2
    elif x < c:
        run = run - 1 if run < 0 else -1
        if -run >= k2:
            fired |= 2
    else:
        run = 0
    rs.side_run = run
    prev = rs.prev
    if prev is not None:
        if x > prev:
            trend = rs.trend
            trend = trend + 1 if trend > 0 else 1
            if trend >= k3:
                fired |= 4
            alt = rs.alt + 1 if rs.last_dir < 0 else 1
            rs.last_dir = 1
        elif x < prev:
            trend = rs.trend
            trend = trend - 1 if trend < 0 else -1
            if -trend >= k3:
                fired |= 4
            alt = rs.alt + 1 if rs.last_dir > 0 else 1
            rs.last_dir = -1
        else:
            trend = alt = 0
            rs.last_dir = 0
        rs.trend = trend
        rs.alt = alt
        if alt >= k4:
            fired |= 8
    rs.prev = x
    if x > cu1:  # c + 2s >= c + s when s > 0: beyond 2 sigma implies beyond 1 sigma
        up1 = ((rs.up1 << 1) | 1) & m6
        rs.up1 = up1
        if up1.bit_count() >= k6:
            fired |= 32
        up2 = ((rs.up2 << 1) | (x > cu2)) & m5
        rs.up2 = up2
        if up2 & 1 and up2.bit_count() >= k5:
            fired |= 16
        rs.lo1 = (rs.lo1 << 1) & m6
        rs.lo2 = (rs.lo2 << 1) & m5
        rs.run7 = 0
        run8 = rs.run8 + 1
        rs.run8 = run8
        if run8 >= k8:
            fired |= 128
    elif x < cl1:
        lo1 = ((rs.lo1 << 1) | 1) & m6
        rs.lo1 = lo1
        if lo1.bit_count() >= k6:
            fired |= 32
        lo2 = ((rs.lo2 << 1) | (x < cl2)) & m5
        rs.lo2 = lo2
        if lo2 & 1 and lo2.bit_count() >= k5:
            fired |= 16
        rs.up1 = (rs.up1 << 1) & m6
        rs.up2 = (rs.up2 << 1) & m5
        rs.run7 = 0
        run8 = rs.run8 + 1
        rs.run8 = run8
        if run8 >= k8:
            fired |= 128
    else:
        window = rs.up1
        if window:
            rs.up1 = (window << 1) & m6
        window = rs.lo1
        if window:
            rs.lo1 = (window << 1) & m6
        window = rs.up2
        if window:
            rs.up2 = (window << 1) & m5
        window = rs.lo2
        if window:
            rs.lo2 = (window << 1) & m5
        rs.run8 = 0
        run7 = rs.run7 + 1
        rs.run7 = run7
        if run7 >= k7:
            fired |= 64
    return fired


# -- the same over a whole array --------------------------------------------------------------

#: Zone names by the codes :func:`zone_codes` gives.
ZONES = ("C", "B", "A", "beyond")


def zone_codes(x: np.ndarray, c: float, s: float, s2: float, lcl: float, ucl: float) -> np.ndarray:
    """Index into ``ZONES`` of each value: ``zone_for`` with sigma > 0, vectorised."""
    d = np.abs(x - c)
    codes = (d > s).view(np.uint8) + (d > s2).view(np.uint8)
    codes[(x > ucl) | (x < lcl)] = 3
    return codes


# Every run test is "the last K points all qualify", with the run so far carried in from
# the state: a window count over a cumulative sum (one pass, cheap), instead of run
# lengths (a maximum.accumulate, an order of magnitude slower). The exact final run length,
# which the state keeps, comes from the last point that broke the run.


def _window_sums(flags: np.ndarray, head: np.ndarray, width: int) -> np.ndarray:
    """Points that qualify among the ``width`` ending at each point (``head`` precedes)."""
    n = flags.size
    sums = np.empty(width + n + 1, dtype=np.int32)
    sums[0] = 0
    np.cumsum(head, out=sums[1 : width + 1])
    sums[width + 1 :] = flags
    np.cumsum(sums[width:], out=sums[width:])
    return sums[width + 1 :] - sums[1 : n + 1]


def _runs_reach(flags: np.ndarray, initial: int, k: int) -> np.ndarray:
    """Whether the run of qualifying points ending at each point (``initial`` of them
    before the first) is at least ``k`` long."""
    if k <= 1:
        return flags if k == 1 else np.ones(flags.size, dtype=bool)
    head = np.zeros(k, dtype=np.int32)
    if initial:
        head[k - min(initial, k) :] = 1
    reached: np.ndarray = _window_sums(flags, head, k) == k
    return reached


def _final_run(flags: np.ndarray, initial: int) -> int:
    """Length of the run of qualifying points at the end (``initial`` before the first)."""
    backwards = flags[::-1]
    broken = int(backwards.argmin())
    if backwards[broken]:  # every point qualifies
        return flags.size + initial
    return broken


def _window_counts(bits: np.ndarray, prior: int, width: int) -> tuple[np.ndarray, int]:
    """Set bits among the last ``width`` points at each point, and the final window mask."""
    head = np.array([(prior >> j) & 1 for j in range(width - 1, -1, -1)], dtype=np.int32)
    return _window_sums(bits, head, width), _final_window(bits, prior, width)


def _final_window(bits: np.ndarray, prior: int, width: int) -> int:
    """The window mask after ``bits`` (the newest point the lowest bit)."""
    final = prior
    for bit in bits[-width:].tolist():
        final = (final << 1) | bit
    return final & ((1 << width) - 1)


def _k_of_k_plus_1(
    above: np.ndarray, below: np.ndarray, up: int, lo: int, width: int, k: int, judged: int
) -> tuple[np.ndarray | None, int, int]:
    """Test 5 or 6 on both sides: whether each point is beyond and K of the last K+1 are
    (``None`` when the test is not ``judged``), and both sides' final window masks."""
    if not judged:
        return None, _final_window(above, up, width), _final_window(below, lo, width)
    up_counts, up = _window_counts(above, up, width)
    lo_counts, lo = _window_counts(below, lo, width)
    return (above & (up_counts >= k)) | (below & (lo_counts >= k)), up, lo


def steps(
    rs: RuleState,
    x: np.ndarray,
    last: float,
    c: float,
    hi1: float,
    lo1: float,
    cu1: float,
    cl1: float,
    cu2: float,
    cl2: float,
    k2: int,
    k3: int,
    k4: int,
    k5: int,
    k6: int,
    k7: int,
    k8: int,
    m5: int,
    m6: int,
    *,
    enabled: int = 0xFF,
) -> np.ndarray:
    """:func:`step` over a whole array, bit-identical (``last`` is ``x[-1]`` as a Python float).

    Returns the bits of the tests in ``enabled`` per point (uint8), the others' bits zero;
    leaves ``rs`` as :func:`step` one by one would, disabled tests' state included (a
    disabled test costs only its final state: a moving-range chart runs test 1 alone).
    """
    n = x.size
    u8 = np.uint8
    fired = ((x > hi1) | (x < lo1)).view(u8) if enabled & 1 else np.zeros(n, dtype=u8)

    above, below = x > c, x < c  # test 2: K in a row on one side
    run = rs.side_run
    if enabled & 2:
        t2 = _runs_reach(above, max(run, 0), k2) | _runs_reach(below, max(-run, 0), k2)
        fired |= t2.view(u8) << 1
    if last > c:
        rs.side_run = _final_run(above, max(run, 0))
    elif last < c:
        rs.side_run = -_final_run(below, max(-run, 0))
    else:
        rs.side_run = 0

    prev = rs.prev
    start = 1 if prev is None else 0
    if n > start:  # tests 3 and 4: the moves between neighbours
        if start:
            xm, xp = x[1:], x[:-1]
        else:
            xp = np.empty_like(x)
            xp[0] = prev
            xp[1:] = x[:-1]
            xm = x
        up, down = xm > xp, xm < xp
        trend = rs.trend
        moved = up | down
        # a move opposite to the one before continues the alternation
        turned = np.empty(up.size, dtype=bool)
        turned[0] = (up[0] and rs.last_dir < 0) or (down[0] and rs.last_dir > 0)
        turned[1:] = (up[1:] & down[:-1]) | (down[1:] & up[:-1])
        chained = max(rs.alt - 1, 0)  # alternating pairs before the first move
        if enabled & 4:
            t3 = _runs_reach(up, max(trend, 0), k3) | _runs_reach(down, max(-trend, 0), k3)
            fired[start:] |= t3.view(u8) << 2
        if enabled & 8:
            t4 = moved & _runs_reach(turned, chained, k4 - 1)
            fired[start:] |= t4.view(u8) << 3
        if up[-1]:
            rs.trend, rs.last_dir = _final_run(up, max(trend, 0)), 1
        elif down[-1]:
            rs.trend, rs.last_dir = -_final_run(down, max(-trend, 0)), -1
        else:
            rs.trend = rs.last_dir = 0
        rs.alt = 1 + _final_run(turned, chained) if moved[-1] else 0
    rs.prev = last

    above1, below1 = x > cu1, x < cl1  # tests 5 and 6: K out of K+1 beyond 2 / 1 sigma
    t5, rs.up2, rs.lo2 = _k_of_k_plus_1(
        x > cu2, x < cl2, rs.up2, rs.lo2, m5.bit_length(), k5, enabled & 16
    )
    t6, rs.up1, rs.lo1 = _k_of_k_plus_1(
        above1, below1, rs.up1, rs.lo1, m6.bit_length(), k6, enabled & 32
    )
    if t5 is not None:
        fired |= t5.view(u8) << 4
    if t6 is not None:
        fired |= t6.view(u8) << 5
    beyond1 = above1 | below1  # tests 7 and 8: K in a row within / beyond 1 sigma
    within = ~beyond1
    if enabled & 64:
        fired |= _runs_reach(within, rs.run7, k7).view(u8) << 6
    if enabled & 128:
        fired |= _runs_reach(beyond1, rs.run8, k8).view(u8) << 7
    if within[-1]:
        rs.run7, rs.run8 = _final_run(within, rs.run7), 0
    else:
        rs.run7, rs.run8 = 0, _final_run(beyond1, rs.run8)
    return fired
