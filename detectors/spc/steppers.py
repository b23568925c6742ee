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
    codes = (d > s).astype(np.int64) + (d > s2)
    codes[(x > ucl) | (x < lcl)] = 3
    return codes


def _run_lengths(same: np.ndarray, initial: int) -> np.ndarray:
    """``L[i] = L[i-1] + 1 if same[i] else 1``, with ``L[-1] = initial``."""
    idx = np.arange(same.size, dtype=np.int64)
    last = np.maximum.accumulate(np.where(same, -1, idx))
    return np.where(last < 0, idx + 1 + initial, idx - last + 1)


def _window_counts(bits: np.ndarray, prior: int, width: int) -> tuple[np.ndarray, int]:
    """Set bits among the last ``width`` points at each point, and the final window mask."""
    head = np.array([(prior >> j) & 1 for j in range(width - 1, -1, -1)], dtype=np.int64)
    ext = np.concatenate((head, bits.astype(np.int64)))
    sums = np.concatenate(([0], np.cumsum(ext)))
    n = bits.size
    counts = sums[width + 1 : width + 1 + n] - sums[1 : n + 1]
    final = 0
    for bit in ext[-width:].tolist():
        final = (final << 1) | bit
    return counts, final


def _sign(v: int) -> int:
    return (v > 0) - (v < 0)


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
) -> np.ndarray:
    """:func:`step` over a whole array, bit-identical (``last`` is ``x[-1]`` as a Python float).

    Returns the bits of all tests per point; leaves ``rs`` as :func:`step` one by one would.
    """
    n = x.size
    fired = ((x > hi1) | (x < lo1)).astype(np.int64)
    side = (x > c).astype(np.int64) - (x < c)
    before = np.empty(n, dtype=np.int64)
    before[0] = _sign(rs.side_run)
    before[1:] = side[:-1]
    run = side * _run_lengths((side == before) & (side != 0), abs(rs.side_run))
    fired |= (np.abs(run) >= k2) * 2
    rs.side_run = int(run[-1])

    prev = rs.prev
    start = 1 if prev is None else 0
    if n > start:
        xm = x[start:]
        xp = x[:-1] if start else np.concatenate((np.array([prev]), x[:-1]))
        move = (xm > xp).astype(np.int64) - (xm < xp)
        moved = move != 0
        before = np.empty(move.size, dtype=np.int64)
        before[0] = _sign(rs.trend)
        before[1:] = move[:-1]
        trend = move * _run_lengths((move == before) & moved, abs(rs.trend))
        before[0] = rs.last_dir
        alt = np.where(moved, _run_lengths((move == -before) & moved, rs.alt), 0)
        fired[start:] |= (np.abs(trend) >= k3) * 4 | (alt >= k4) * 8
        rs.trend, rs.alt, rs.last_dir = int(trend[-1]), int(alt[-1]), int(move[-1])
    rs.prev = last

    above2, below2 = x > cu2, x < cl2
    above1, below1 = x > cu1, x < cl1
    up2, rs.up2 = _window_counts(above2, rs.up2, m5.bit_length())
    lo2, rs.lo2 = _window_counts(below2, rs.lo2, m5.bit_length())
    up1, rs.up1 = _window_counts(above1, rs.up1, m6.bit_length())
    lo1w, rs.lo1 = _window_counts(below1, rs.lo1, m6.bit_length())
    fired |= ((above2 & (up2 >= k5)) | (below2 & (lo2 >= k5))) * 16
    fired |= ((above1 & (up1 >= k6)) | (below1 & (lo1w >= k6))) * 32
    beyond1 = above1 | below1
    within = ~beyond1
    # a run continues from the state's counter at the first point (0 if it was broken)
    same7 = within.copy()
    same7[1:] &= within[:-1]
    same8 = beyond1.copy()
    same8[1:] &= beyond1[:-1]
    run7 = np.where(within, _run_lengths(same7, rs.run7), 0)
    run8 = np.where(beyond1, _run_lengths(same8, rs.run8), 0)
    fired |= (run7 >= k7) * 64 | (run8 >= k8) * 128
    rs.run7, rs.run8 = int(run7[-1]), int(run8[-1])
    return fired
