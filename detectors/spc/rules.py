"""Nelson's eight tests for special causes, as a frozen ``RuleSet`` and a streaming engine.

Conventions (documented once, used by every chart):

* **Which point is flagged.** The point that *completes* the pattern: for a run of 9, the
  ninth point. While a pattern continues, every further point that still completes it is
  flagged too (the tenth point of a run of ten fails test 2 again), as Minitab and qcc do.
* **K.** Test 1: the number of sigmas (may be fractional). Tests 2, 7, 8: points in a row.
  Tests 3 and 4: consecutive *moves* (differences between neighbours); Minitab's default
  test 3 (K=6) therefore needs six increases (seven points) and test 4 (K=14) fourteen
  alternating moves (fifteen points). qcc counts points instead: ``k={3: 5, 4: 13}``
  reproduces qcc's ``NEL3``/``NEL4``. Tests 5 and 6: K out of K+1 points, and the point
  flagged must itself lie beyond the zone (otherwise the pattern was already complete at
  the previous point).
* **Points on the center line** belong to neither side: such a point ends any test-2 run
  and never counts as beyond 1 or 2 sigma (tests 5, 6, 8); it does count as within 1 sigma
  (test 7). Equal neighbouring values are neither an increase nor a decrease: they end a
  test-3 trend and a test-4 alternation.
* **Strictness.** "Beyond" is strict (``>``): a point exactly at a limit or zone boundary
  is not beyond it; "within 1 sigma" is inclusive (``<=``).
* Test 8 needs K points beyond 1 sigma on either side (mixed sides allowed, as Minitab's
  definition reads; qcc's NEL8 additionally requires both sides to occur).

The engine keeps O(1) state per test (run counters and K+1-bit windows), so memory is
bounded by the largest K whatever the stream length.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from linewatch.detectors.spc.steppers import step

__all__ = [
    "DEFAULT_K",
    "RULE_DESCRIPTIONS",
    "Described",
    "RuleSet",
    "RuleState",
    "described",
    "rule_names",
]

#: Minitab's default K per test.
DEFAULT_K: dict[int, float] = {1: 3.0, 2: 9, 3: 6, 4: 14, 5: 2, 6: 4, 7: 15, 8: 8}

RULE_DESCRIPTIONS: dict[int, str] = {
    1: "1 point more than {k} sigma from the center line",
    2: "{k} points in a row on the same side of the center line",
    3: "{k} consecutive increases or decreases ({k1} points in a row)",
    4: "{k} consecutive alternating moves ({k1} points in a row, alternating up and down)",
    5: "{k} out of {k1} points more than 2 sigma from the center line (same side)",
    6: "{k} out of {k1} points more than 1 sigma from the center line (same side)",
    7: "{k} points in a row within 1 sigma of the center line (either side)",
    8: "{k} points in a row more than 1 sigma from the center line (either side)",
}

_NAMES = tuple(f"nelson{t}" for t in range(1, 9))
_MASK_NAMES: dict[int, tuple[str, ...]] = {}


def rule_names(mask: int) -> tuple[str, ...]:
    """Names of the tests in a bit mask (bit t-1 set for test t), cached.

    >>> rule_names(0b101)
    ('nelson1', 'nelson3')
    """
    names = _MASK_NAMES.get(mask)
    if names is None:
        names = tuple(_NAMES[t] for t in range(8) if mask >> t & 1)
        _MASK_NAMES[mask] = names
    return names


class RuleSet:
    """Which of Nelson's tests apply to a chart, with their K; frozen and hashable.

    >>> RuleSet(tests=(1, 2, 5, 6), k={2: 8})
    RuleSet(tests=(1, 2, 5, 6), k={2: 8})
    >>> RuleSet.western_electric() == RuleSet(tests=(1, 2, 5, 6), k={2: 8})
    True
    >>> RuleSet.nelson()
    RuleSet(tests=(1, 2, 3, 4, 5, 6, 7, 8))
    >>> RuleSet.nelson().k_of(3)
    6
    >>> len({RuleSet.nelson(), RuleSet.nelson()})
    1
    """

    __slots__ = ("_k", "_overrides", "_tests")
    #: Its tests and K never change after construction (detector identity: base.py).
    unchangeable_parameter: ClassVar[bool] = True

    _k: dict[int, float]
    _overrides: tuple[tuple[int, float], ...]
    _tests: tuple[int, ...]

    def __init__(self, tests: Iterable[int] = (1,), k: Mapping[int, float] | None = None) -> None:
        chosen = tuple(sorted({int(t) for t in tests}))
        for t in chosen:
            if not 1 <= t <= 8:
                raise ValueError(f"Nelson tests are numbered 1 to 8, got {t}")
        overrides: dict[int, float] = {}
        for key, value in (k or {}).items():
            test = int(key)
            if not 1 <= test <= 8:
                raise ValueError(f"k given for test {key!r}; tests are numbered 1 to 8")
            if test == 1:
                number: float = float(value)
                if not number > 0:
                    raise ValueError(f"test 1 K must be positive, got {value!r}")
            else:
                if int(value) != value or int(value) < 1:
                    raise ValueError(f"test {test} K must be a positive integer, got {value!r}")
                number = int(value)
                if test in (5, 6) and number > 62:
                    raise ValueError(f"test {test} K must be at most 62, got {value!r}")
            if number != DEFAULT_K[test]:
                overrides[test] = number
        object.__setattr__(self, "_tests", chosen)
        object.__setattr__(self, "_overrides", tuple(sorted(overrides.items())))
        object.__setattr__(self, "_k", {**DEFAULT_K, **overrides})

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("RuleSet is frozen")

    @classmethod
    def nelson(cls) -> RuleSet:
        """All eight tests with Minitab's default K."""
        return cls(tests=range(1, 9))

    @classmethod
    def western_electric(cls) -> RuleSet:
        """Western Electric rules: beyond 3 sigma, 2 of 3 > 2 sigma, 4 of 5 > 1 sigma, 8 in a row."""
        return cls(tests=(1, 2, 5, 6), k={2: 8})

    @classmethod
    def qcc(cls) -> RuleSet:
        """qcc's ``shewhart.rules``: beyond the limits, and 7 points in a row on one side.

        (qcc's ``qcc.options("run.length")`` is 7; like test 2 here, qcc flags the point
        that completes the run and each later one while it lasts.)

        >>> RuleSet.qcc(), RuleSet.parse("qcc") == RuleSet.qcc()
        (RuleSet(tests=(1, 2), k={2: 7}), True)
        """
        return cls(tests=(1, 2), k={2: 7})

    @classmethod
    def none(cls) -> RuleSet:
        """No tests at all (the statistic is plotted, never signalled)."""
        return cls(tests=())

    @classmethod
    def parse(cls, text: str) -> RuleSet:
        """The one reader of rule text, for the CLI and the config alike.

        A preset (``nelson``; ``western_electric``, also ``we`` or ``western-electric``;
        ``qcc``, qcc's beyond-limits and 7-in-a-row; ``test1``; ``none``), or tests like ``1,2,5,6`` optionally followed by their K
        (``;2=8,1=2.5``). A ``ValueError`` says what is expected, in one line.

        >>> RuleSet.parse("we"), RuleSet.parse("Western-Electric") == RuleSet.parse("we")
        (RuleSet(tests=(1, 2, 5, 6), k={2: 8}), True)
        >>> RuleSet.parse("1,2,5,6;2=8"), RuleSet.parse("test1"), RuleSet.parse("none")
        (RuleSet(tests=(1, 2, 5, 6), k={2: 8}), RuleSet(tests=(1,)), RuleSet(tests=()))
        >>> RuleSet.parse("nelsen")
        Traceback (most recent call last):
        ...
        ValueError: rules 'nelsen': expected nelson, western_electric (we), test1, none, or tests like '1,2,5,6' optionally followed by ';2=8,1=2.5'
        """
        name = text.strip().lower().replace("-", "_")
        preset = _PRESETS.get(name)
        if preset is not None:
            return preset()
        tests_part, _, k_part = name.partition(";")
        try:
            tests = [int(t) for t in tests_part.split(",") if t.strip()]
            k = {
                int(a): float(b)
                for a, b in (item.split("=") for item in k_part.split(",") if item.strip())
            }
        except ValueError:
            raise ValueError(
                f"rules {text!r}: expected nelson, western_electric (we), test1, none, "
                "or tests like '1,2,5,6' optionally followed by ';2=8,1=2.5'"
            ) from None
        if not tests:
            raise ValueError(f"rules {text!r}: no tests named")
        return cls(tests=tests, k={t: (v if t == 1 else int(v)) for t, v in k.items()})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RuleSet:
        """Inverse of :meth:`to_dict` (JSON keys of ``k`` may be strings)."""
        return cls(
            tests=data.get("tests", (1,)), k={int(t): v for t, v in data.get("k", {}).items()}
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data: ``{"tests": [...], "k": {"2": 8}}`` (JSON-able)."""
        return {"tests": list(self._tests), "k": {str(t): v for t, v in self._overrides}}

    @property
    def tests(self) -> tuple[int, ...]:
        return self._tests

    @property
    def k(self) -> dict[int, float]:
        """K of every test (defaults filled in)."""
        return dict(self._k)

    def k_of(self, test: int) -> Any:
        return self._k[test]

    @property
    def mask(self) -> int:
        """Bit t-1 set for each enabled test t."""
        return sum(1 << (t - 1) for t in self._tests)

    def describe(self, test: int) -> str:
        k = self._k[test]
        shown = f"{k:g}" if isinstance(k, float) else str(k)
        return RULE_DESCRIPTIONS[test].format(k=shown, k1=int(k) + 1 if test != 1 else "")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RuleSet):
            return NotImplemented
        return self._tests == other._tests and self._overrides == other._overrides

    def __hash__(self) -> int:
        return hash((self._tests, self._overrides))

    def __repr__(self) -> str:
        if not self._overrides:
            return f"RuleSet(tests={self._tests!r})"
        k = "{" + ", ".join(f"{t}: {v!r}" for t, v in self._overrides) + "}"
        return f"RuleSet(tests={self._tests!r}, k={k})"

    def __deepcopy__(self, memo: dict[int, Any]) -> RuleSet:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (RuleSet, (self._tests, dict(self._overrides)))


_PRESETS = {
    "nelson": RuleSet.nelson,
    "western_electric": RuleSet.western_electric,
    "we": RuleSet.western_electric,
    "qcc": RuleSet.qcc,
    "test1": RuleSet,
    "none": RuleSet.none,
    "": RuleSet.none,
}


class RuleState:
    """Streaming state of one chart's tests; :meth:`step` judges the next point.

    ``step`` takes the point's value, its center, its sigma above and below the center
    (they differ only when limits were given asymmetric), and the test-1 thresholds; it
    returns a bit mask of the tests the point completes (see :func:`rule_names`).

    >>> state = RuleState(RuleSet(tests=(2,), k={2: 3}))
    >>> [state.step(x, 0.0, 1.0, 1.0, 3.0, -3.0) for x in (1.0, 2.0, 1.0, 0.5, 0.0, 1.0)]
    [0, 0, 2, 2, 0, 0]
    """

    __slots__ = (
        "alt",
        "enabled",
        "k1",
        "k2",
        "k3",
        "k4",
        "k5",
        "k6",
        "k7",
        "k8",
        "last_dir",
        "lo1",
        "lo2",
        "mask5",
        "mask6",
        "prev",
        "run7",
        "run8",
        "side_run",
        "trend",
        "up1",
        "up2",
    )

    def __init__(self, rules: RuleSet) -> None:
        k = rules.k
        self.enabled = rules.mask
        self.k1 = float(k[1])
        self.k2, self.k3, self.k4 = int(k[2]), int(k[3]), int(k[4])
        self.k5, self.k6, self.k7, self.k8 = int(k[5]), int(k[6]), int(k[7]), int(k[8])
        self.mask5 = (1 << (self.k5 + 1)) - 1
        self.mask6 = (1 << (self.k6 + 1)) - 1
        self.reset()

    def reset(self) -> None:
        """Forget every pattern in progress."""
        self.prev: float | None = None
        self.side_run = 0  # signed: +n above, -n below the center
        self.trend = 0  # signed count of consecutive increases / decreases
        self.alt = 0  # consecutive moves each opposite to the one before
        self.last_dir = 0
        self.up2 = self.lo2 = self.up1 = self.lo1 = 0  # K+1-point windows as bit masks
        self.run7 = self.run8 = 0

    def plan(self) -> tuple[int, int, int, int, int, int, int, int, int]:
        """K of tests 2-8 and the window masks of tests 5 and 6, as :func:`step` takes them."""
        return (
            self.k2,
            self.k3,
            self.k4,
            self.k5,
            self.k6,
            self.k7,
            self.k8,
            self.mask5,
            self.mask6,
        )

    def step(
        self, x: float, center: float, s_up: float, s_lo: float, hi1: float, lo1: float
    ) -> int:
        """The enabled tests ``x`` completes (see :func:`~.steppers.step`, which this calls)."""
        return (
            step(
                self,
                x,
                center,
                hi1,
                lo1,
                center + s_up,
                center - s_lo,
                center + 2.0 * s_up,
                center - 2.0 * s_lo,
                self.k2,
                self.k3,
                self.k4,
                self.k5,
                self.k6,
                self.k7,
                self.k8,
                self.mask5,
                self.mask6,
            )
            & self.enabled
        )

    def to_state(self) -> list[Any]:
        return [
            self.prev,
            self.side_run,
            self.trend,
            self.alt,
            self.last_dir,
            self.up2,
            self.lo2,
            self.up1,
            self.lo1,
            self.run7,
            self.run8,
        ]

    def load(self, state: list[Any]) -> None:
        (
            self.prev,
            self.side_run,
            self.trend,
            self.alt,
            self.last_dir,
            self.up2,
            self.lo2,
            self.up1,
            self.lo1,
            self.run7,
            self.run8,
        ) = state


class Described(dict[int, tuple[tuple[str, ...], tuple[tuple[str, str], ...]]]):
    """Mask -> (rule names, ((name, description), ...)) for one RuleSet; shared, immutable."""

    def __init__(self, rules: RuleSet) -> None:
        super().__init__()
        self.rules = rules

    def __missing__(self, mask: int) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
        names = rule_names(mask)
        entry = (names, tuple((n, self.rules.describe(int(n[6:]))) for n in names))
        self[mask] = entry
        return entry

    def __deepcopy__(self, memo: dict[int, Any]) -> Described:
        return self


_DESCRIBED_BY_RULES: dict[RuleSet, Described] = {}


def described(rules: RuleSet) -> Described:
    """Mask -> rule names and their descriptions for ``rules``, built once, shared."""
    found = _DESCRIBED_BY_RULES.get(rules)
    if found is None:
        found = _DESCRIBED_BY_RULES[rules] = Described(rules)
    return found
