"""Control-chart constants d2, d3 (range of normal samples) and c4 (bias of S).

``c4(n)`` is computed exactly from gamma functions:
``c4(n) = sqrt(2/(n-1)) * Gamma(n/2) / Gamma((n-1)/2)`` (via ``lgamma``, any n >= 2).

``d2(n)`` (mean of the range of n standard normals) and ``d3(n)`` (its standard deviation)
come in two tables, for n = 2..50:

* ``"table"`` (the default): three decimals, as printed in ASTM E2587 and Montgomery,
  *Introduction to Statistical Quality Control*, Appendix VI (e.g. d2(5) = 2.326,
  d3(5) = 0.864), and as used by qcc 2.x. Each entry is the value below correctly rounded
  to three decimals; that reproduces every d2 and d3 of the printed table for n <= 25 except
  d3(19), which some printings give as 0.734 while the integral is 0.733481 (we use 0.733).
* ``"exact"``: nine decimals, by numerical integration of the range distribution
  ``P(R <= w) = n * int phi(x) (Phi(x + w) - Phi(x))**(n-1) dx`` and
  ``d2 = int_0^inf P(R > w) dw``, ``E[R^2] = 2 int_0^inf w P(R > w) dw`` (scipy ``quad``,
  absolute error < 1e-10; ``tests/unit/spc/test_constants.py`` re-integrates several n).
  This is what Minitab uses (unrounded constants).
* ``"qcc"``: qcc 2.7's own table (``qcc.options("exp.R.unscaled")`` and
  ``"se.R.unscaled"``): d2 to three decimals (tabulated there for n <= 25; larger n take
  the three-decimal rounding of the exact value, where qcc itself has no d2), d3 to seven
  decimals for n = 2..50 as qcc prints them (they differ from the exact integral in the
  sixth or seventh decimal, e.g. d3(2) = 0.8525033 against 0.852502466). ``conventions: qcc``
  selects it.

>>> d2(5), d3(5), d2(5, "exact"), d3(5, "qcc")
(2.326, 0.864, 2.325928947, 0.8640855)
>>> round(c4(5), 4)
0.94
"""

from __future__ import annotations

import math

__all__ = ["CONSTANTS_TABLES", "D2_D3_EXACT", "D2_D3_QCC", "D2_D3_TABLE", "MAX_N", "c4", "d2", "d3"]

#: n -> (d2, d3), nine decimals, numerical integration (see module docstring).
D2_D3_EXACT: dict[int, tuple[float, float]] = {
    2: (1.128379167, 0.852502466),
    3: (1.692568751, 0.888368004),
    4: (2.058750746, 0.879808203),
    5: (2.325928947, 0.864081941),
    6: (2.534412721, 0.848039686),
    7: (2.704356751, 0.833205335),
    8: (2.847200612, 0.819831490),
    9: (2.970026324, 0.807834274),
    10: (3.077505462, 0.797050673),
    11: (3.172872704, 0.787314620),
    12: (3.258455280, 0.778478341),
    13: (3.335980354, 0.770416202),
    14: (3.406763108, 0.763023096),
    15: (3.471826890, 0.756211430),
    16: (3.531982786, 0.749908089),
    17: (3.587883962, 0.744051784),
    18: (3.640063758, 0.738590853),
    19: (3.688963023, 0.733481495),
    20: (3.734950120, 0.728686345),
    21: (3.778335830, 0.724173341),
    22: (3.819384643, 0.719914808),
    23: (3.858323423, 0.715886735),
    24: (3.895348148, 0.712068175),
    25: (3.930629220, 0.708440766),
    26: (3.964315679, 0.704988338),
    27: (3.996538604, 0.701696589),
    28: (4.027413848, 0.698552817),
    29: (4.057044292, 0.695545698),
    30: (4.085521688, 0.692665099),
    31: (4.112928195, 0.689901920),
    32: (4.139337656, 0.687247967),
    33: (4.164816672, 0.684695833),
    34: (4.189425511, 0.682238807),
    35: (4.213218879, 0.679870791),
    36: (4.236246573, 0.677586229),
    37: (4.258554051, 0.675380047),
    38: (4.280182910, 0.673247599),
    39: (4.301171315, 0.671184623),
    40: (4.321554356, 0.669187200),
    41: (4.341364369, 0.667251719),
    42: (4.360631215, 0.665374846),
    43: (4.379382521, 0.663553500),
    44: (4.397643898, 0.661784824),
    45: (4.415439128, 0.660066168),
    46: (4.432790336, 0.658395066),
    47: (4.449718135, 0.656769227),
    48: (4.466241762, 0.655186510),
    49: (4.482379194, 0.653644920),
    50: (4.498147259, 0.652142588),
}

#: Largest subgroup size with tabulated d2/d3.
MAX_N = max(D2_D3_EXACT)

#: n -> (d2, d3) to three decimals: the printed table (ASTM E2587, Montgomery App. VI).
D2_D3_TABLE: dict[int, tuple[float, float]] = {
    n: (round(a, 3), round(b, 3)) for n, (a, b) in D2_D3_EXACT.items()
}

# qcc 2.7, qcc.options("se.R.unscaled")[2:50], verbatim (seven decimals).
_QCC_D3 = (
    0.8525033, 0.8883697, 0.8798108, 0.8640855, 0.8480442, 0.8332108, 0.8198378,
    0.8078413, 0.7970584, 0.7873230, 0.7784873, 0.7704257, 0.7630330, 0.7562217,
    0.7499188, 0.7440627, 0.7386021, 0.7334929, 0.7286980, 0.7241851, 0.7199267,
    0.7158987, 0.7120802, 0.7084528, 0.7050004, 0.7017086, 0.6985648, 0.6955576,
    0.6926770, 0.6899137, 0.6872596, 0.6847074, 0.6822502, 0.6798821, 0.6775973,
    0.6753910, 0.6732584, 0.6711952, 0.6691976, 0.6672619, 0.6653848, 0.6635632,
    0.6617943, 0.6600754, 0.6584041, 0.6567780, 0.6551950, 0.6536532, 0.6521506,
)  # fmt: skip

#: n -> (d2, d3) as qcc 2.7 has them: d2 to three decimals, d3 to seven (see above).
D2_D3_QCC: dict[int, tuple[float, float]] = {
    n: (D2_D3_TABLE[n][0], d3) for n, d3 in zip(range(2, MAX_N + 1), _QCC_D3, strict=True)
}

#: The tables by the name a chart's ``constants`` takes.
CONSTANTS_TABLES: dict[str, dict[int, tuple[float, float]]] = {
    "table": D2_D3_TABLE,
    "exact": D2_D3_EXACT,
    "qcc": D2_D3_QCC,
}


def _lookup(n: int, constants: str) -> tuple[float, float]:
    table = CONSTANTS_TABLES.get(constants)
    if table is None:
        raise ValueError(
            f"constants must be 'table' or 'exact' (or 'qcc', qcc's own), got {constants!r}"
        )
    try:
        return table[n]
    except KeyError:
        raise ValueError(f"d2/d3 are tabulated for n = 2..{MAX_N}, got {n}") from None


def d2(n: int, constants: str = "table") -> float:
    """Mean range of ``n`` standard normal values."""
    return _lookup(n, constants)[0]


def d3(n: int, constants: str = "table") -> float:
    """Standard deviation of the range of ``n`` standard normal values."""
    return _lookup(n, constants)[1]


def c4(n: int) -> float:
    """E[S]/sigma for samples of ``n`` normal values (exact)."""
    if n < 2:
        raise ValueError(f"c4 needs n >= 2, got {n}")
    return math.sqrt(2.0 / (n - 1)) * math.exp(math.lgamma(n / 2.0) - math.lgamma((n - 1) / 2.0))
