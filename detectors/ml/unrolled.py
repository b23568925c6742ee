"""The equipment model's per-sample arithmetic on p floats, without loops.

For a handful of variables the interpreter's loop bookkeeping (``zip``, ``append``, the
iteration itself) costs more than the arithmetic. These functions are generated once per
p (or degrees of freedom) from the loop they replace, with **the same operations in the
same order**, so they return the same floats bit for bit (``tests/unit/ml`` compares them
with the loops). The source is built from an integer alone.

>>> kernel = mewma_t2_kernel(2)
>>> kernel([3.0, 1.0], [1.0, 1.0], [0.5, 0.0], 0.5, 2.0)
(10.125, [10.125, 0.0], [2.25, 0.0])
>>> mewma_t2_loop([3.0, 1.0], [1.0, 1.0], [0.5, 0.0], 0.5, 2.0)
(10.125, [10.125, 0.0], [2.25, 0.0])
>>> chi2_tail(4)(9.4877) == chi2_tail_loop(4, 9.4877)
True
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

from scipy import special

__all__ = [
    "UNROLL_MAX",
    "Kernel",
    "chi2_tail",
    "chi2_tail_loop",
    "mewma_t2_kernel",
    "mewma_t2_loop",
]

#: ``kernel(product, offset, ewma, keep, scale) -> (statistic, contributions, next ewma)``
Kernel = Callable[
    [list[float], list[float], list[float], float, float], tuple[float, list[float], list[float]]
]

#: Unrolled up to this many variables; beyond it the loop (the same operations).
UNROLL_MAX = 32


def mewma_t2_loop(
    product: list[float], offset: list[float], ewma: list[float], keep: float, scale: float
) -> tuple[float, list[float], list[float]]:
    """Whitened ``y = product - offset``; next EWMA ``y + keep * ewma``; the larger of T² and
    the MEWMA statistic with its contributions (squared components)."""
    after = []
    shewhart = []
    t2 = 0.0
    squares = 0.0
    for pi, oi, ei in zip(product, offset, ewma, strict=True):
        yi = pi - oi
        e = yi + keep * ei
        after.append(e)
        s = yi * yi
        shewhart.append(s)
        t2 += s
        squares += e * e
    m2 = squares * scale
    # Both are chi-square(p): the larger statistic has the smaller p-value.
    if m2 >= t2:
        return m2, [e * e * scale for e in after], after
    return t2, shewhart, after


def _compiled(source: str, name: str) -> Any:
    namespace: dict[str, Any] = {"exp": math.exp}
    exec(source, namespace)
    return namespace[name]


@functools.cache
def mewma_t2_kernel(p: int) -> Kernel:
    """:func:`mewma_t2_loop` for p variables (the loop itself above ``UNROLL_MAX``).

    The sums run left to right from the first term, as the loop's do from 0.0 (squares
    are never -0.0, so ``0.0 + s`` is ``s``).
    """
    if p > UNROLL_MAX:
        return mewma_t2_loop
    k = range(p)

    def names(prefix: str) -> str:
        return ", ".join(f"{prefix}{i}" for i in k)

    lines = [
        "def kernel(product, offset, ewma, keep, scale):",
        f"    {names('p')}, = product",
        f"    {names('o')}, = offset",
        f"    {names('w')}, = ewma",
        *(f"    y{i} = p{i} - o{i}" for i in k),
        *(f"    e{i} = y{i} + keep * w{i}" for i in k),
        *(f"    s{i} = y{i} * y{i}" for i in k),
        f"    t2 = {' + '.join(f's{i}' for i in k)}",
        f"    m2 = ({' + '.join(f'e{i} * e{i}' for i in k)}) * scale",
        "    if m2 >= t2:",
        f"        return m2, [{', '.join(f'e{i} * e{i} * scale' for i in k)}], [{names('e')}]",
        f"    return t2, [{names('s')}], [{names('e')}]",
    ]
    kernel: Kernel = _compiled("\n".join(lines), "kernel")
    return kernel


def chi2_tail_loop(df: int, x: float) -> float:
    """Chi-square(df) survival function: scipy for odd or large df, else the finite series
    ``exp(-x/2) sum_{j < df/2} (x/2)^j / j!``."""
    if df % 2 or df > 40:
        return float(special.chdtrc(df, x))
    half = 0.5 * x
    term = total = 1.0
    for j in range(1, df // 2):
        term *= half / j
        total += term
    return math.exp(-half) * total


@functools.cache
def chi2_tail(df: int) -> Callable[[float], float]:
    """``chi2_tail_loop(df, .)`` as a one-argument function, its series unrolled."""
    if df % 2 or df > 40:
        chdtrc = special.chdtrc
        return lambda x: float(chdtrc(df, x))
    lines = ["def tail(x):", "    half = 0.5 * x", "    term = total = 1.0"]
    for j in range(1, df // 2):
        # term *= half / j with j an int: the division is by float(j), exactly
        lines += [f"    term = term * (half / {float(j)!r})", "    total = total + term"]
    lines.append("    return exp(-half) * total")
    tail: Callable[[float], float] = _compiled("\n".join(lines), "tail")
    return tail
