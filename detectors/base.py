"""The one abstract base every detector derives from, and the small result types it speaks.

Detectors are pure computation: numbers in, plotted points and signals out. They know
nothing of lines, stations, Kafka or InfluxDB; ``pipeline/`` attaches that identity.

Constructor arguments are stored as given (river's convention), and all learned state
is built from them, so ``clone()`` gives a fresh detector with the same parameters and
``snapshot()``/``restore()`` round-trip the learned state through plain JSON bytes.

**Values the statistics can hold.** Every number a detector takes goes through
:func:`finite`, which refuses NaN, inf and any value beyond ±:data:`MAX_MAGNITUDE`
(1e100) with :class:`DetectorInputError` ("implausible value"). No measurement, count or
size of a real line comes near 1e100, and with that bound squares (<= 4e200), sums of
squares and moving ranges of any realistic number of values stay finite, so the
estimators never overflow. A refused value is refused before it touches any state.
Likewise a phase-I sigma estimate below :data:`MIN_SIGMA` (1e-100) counts as zero.
"""

from __future__ import annotations

import abc
import copy
import functools
import inspect
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self

__all__ = [
    "MAX_MAGNITUDE",
    "MIN_SIGMA",
    "Detector",
    "DetectorInputError",
    "Evaluation",
    "Observation",
    "PlotPoint",
    "Signal",
    "SnapshotError",
    "zone_of",
]

#: Largest magnitude :func:`finite` accepts: beyond it, squares and sums could overflow.
MAX_MAGNITUDE = 1e100

#: Smallest sigma a chart estimates limits from: below it, sigma squared underflows and
#: z-scores of ordinary values overflow (phase I refuses such a window as if constant).
MIN_SIGMA = 1e-100

#: What a detector consumes: one value, a subgroup of values, or named values.
Observation = float | Sequence[float] | Mapping[str, float]


class DetectorInputError(ValueError):
    """An observation a detector cannot use (NaN, inf, an empty subgroup, ...)."""


class SnapshotError(ValueError):
    """A snapshot that does not belong to this detector (other type or parameters)."""


# The result types are slotted dataclasses, not frozen ones: a frozen dataclass sets every
# field through object.__setattr__ (about 2 us a point, more than all eight Nelson tests),
# and the hot paths build two points a sample. Treat them as immutable values all the same;
# unsafe_hash keeps them hashable on that promise.


@dataclass(slots=True, unsafe_hash=True)
class PlotPoint:
    """One plotted statistic of a chart and the limits it was judged against.

    ``ts`` is the timestamp of the observation that completed the point.
    ``center``/``lcl``/``ucl`` are ``None`` while no limits exist yet (phase I is still
    collecting). ``limits_version`` is 0 until then, and grows by one each time the
    limits are (re)established. ``zone`` is the Western Electric zone of the point:
    ``"C"`` within 1 sigma of the center, ``"B"`` 1-2 sigma, ``"A"`` 2-3 sigma,
    ``"beyond"`` outside the limits, ``""`` when there are no limits.
    """

    ts: datetime
    chart: str
    index: int
    value: float
    center: float | None
    lcl: float | None
    ucl: float | None
    limits_version: int
    zone: str
    rules: tuple[str, ...] = ()


@dataclass(slots=True, unsafe_hash=True)
class Signal:
    """An out-of-control signal: which rule fired, on which chart, at which point.

    ``index`` is the 0-based position, on ``chart``, of the point that completes the
    pattern (for a run of 9, the ninth point); ``ts`` is that point's timestamp.
    """

    ts: datetime
    rule: str
    chart: str
    index: int
    value: float
    center: float
    lcl: float | None
    ucl: float | None
    description: str


@dataclass(slots=True, unsafe_hash=True)
class Evaluation:
    """What one ``update`` produced: the points plotted and the signals raised."""

    points: tuple[PlotPoint, ...] = ()
    signals: tuple[Signal, ...] = ()


_EMPTY = Evaluation()


def zone_of(value: float, center: float | None, lcl: float | None, ucl: float | None) -> str:
    """Western Electric zone of ``value`` for 3-sigma limits (sigma = a third of the half-width).

    >>> zone_of(10.5, 10.0, 7.0, 13.0)
    'C'
    >>> zone_of(8.5, 10.0, 7.0, 13.0)
    'B'
    >>> zone_of(12.5, 10.0, 7.0, 13.0)
    'A'
    >>> zone_of(13.5, 10.0, 7.0, 13.0)
    'beyond'
    >>> zone_of(1.0, None, None, None)
    ''
    """
    if center is None or math.isnan(value):
        return ""
    if (ucl is not None and value > ucl) or (lcl is not None and value < lcl):
        return "beyond"
    bound = ucl if value >= center else lcl
    if bound is None or bound == center:
        return "C"
    distance = abs(value - center) / (abs(bound - center) / 3.0)
    if distance <= 1.0:
        return "C"
    if distance <= 2.0:
        return "B"
    return "A"


class Detector(abc.ABC):
    """Base class of every detector.

    Subclasses implement :meth:`update`, :meth:`_get_state` and :meth:`_set_state`,
    and store every constructor argument under an attribute of the same name.
    """

    #: Largest snapshot, in bytes, that the generic checks accept after a long run.
    max_state_bytes: int = 4096

    @abc.abstractmethod
    def update(self, ts: datetime, x: Observation) -> Evaluation:
        """Learn from one observation and say what it plots and signals."""

    @abc.abstractmethod
    def _get_state(self) -> dict[str, Any]:
        """Learned state as JSON-able plain data."""

    @abc.abstractmethod
    def _set_state(self, state: Mapping[str, Any]) -> None:
        """Replace learned state with what :meth:`_get_state` returned."""

    @property
    def has_limits(self) -> bool:
        """Whether limits are established (phase I is over or limits were given)."""
        return True

    def score(self, ts: datetime, x: Observation) -> Evaluation:
        """What :meth:`update` would return for ``x``, without learning from it."""
        return copy.deepcopy(self).update(ts, x)

    def update_many(self, ts: Sequence[datetime], xs: Sequence[Observation]) -> list[Evaluation]:
        """Update with many observations; same output as calling :meth:`update` on each."""
        if len(ts) != len(xs):
            raise DetectorInputError(f"{len(ts)} timestamps for {len(xs)} observations")
        return [self.update(t, x) for t, x in zip(ts, xs, strict=True)]

    # -- parameters, cloning and state -------------------------------------------------

    def _get_params(self) -> dict[str, Any]:
        """Constructor arguments as stored on the instance."""
        return {name: getattr(self, name) for name in _param_names(type(self))}

    def clone(self) -> Self:
        """A new detector with the same parameters and no learned state."""
        return type(self)(**copy.deepcopy(self._get_params()))

    def _identity(self) -> dict[str, Any]:
        cls = type(self)
        key = _params_key(tuple(getattr(self, name) for name in _param_names(cls)))
        if key is not None:
            known = _IDENTITIES.get((cls, key))
            if known is not None:
                return known
        params = json.loads(json.dumps(self._get_params(), default=repr, sort_keys=True))
        identity = {"detector": f"{cls.__module__}.{cls.__qualname__}", "params": params}
        if key is not None:
            if len(_IDENTITIES) >= _MAX_IDENTITIES:
                _IDENTITIES.clear()
            _IDENTITIES[(cls, key)] = identity
        return identity

    def snapshot(self) -> bytes:
        """Learned state as bytes; :meth:`restore` on a clone gives identical future output."""
        document = {**self._identity(), "state": self._get_state()}
        return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()

    def restore(self, snapshot: bytes) -> None:
        """Load state from :meth:`snapshot`; refuses one of another type or parameters."""
        try:
            document = json.loads(snapshot)
        except (ValueError, UnicodeDecodeError) as exc:
            raise SnapshotError(f"snapshot is not valid JSON: {exc}") from exc
        identity = self._identity()
        if isinstance(document.get("params"), dict):
            document["params"] = {**self._added_defaults(), **document["params"]}
        for key in ("detector", "params"):
            if document.get(key) != identity[key]:
                raise SnapshotError(
                    f"snapshot {key} {document.get(key)!r} does not match {identity[key]!r}"
                )
        self._set_state(document["state"])

    def _added_defaults(self) -> dict[str, Any]:
        """Parameters at their default value: a snapshot taken before such a parameter was
        added still restores (its absence meant the default's behaviour)."""
        signature = inspect.signature(type(self).__init__)
        params = json.loads(json.dumps(self._get_params(), default=repr, sort_keys=True))
        return {
            name: params[name]
            for name, param in signature.parameters.items()
            if name in params
            and param.default is not param.empty
            and json.loads(json.dumps(param.default, default=repr)) == params[name]
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._get_params().items())
        return f"{type(self).__name__}({args})"


@functools.cache
def _param_names(cls: type[Detector]) -> tuple[str, ...]:
    """The constructor's named parameters: read once per class (``inspect.signature`` was
    most of a checkpoint's snapshot time)."""
    signature = inspect.signature(cls.__init__)
    return tuple(
        name
        for name, param in signature.parameters.items()
        if name != "self" and param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD)
    )


#: A detector's identity (its snapshot's ``detector`` and ``params``) by class and
#: :func:`_params_key`: shared by the detectors of equal parameters, read, never changed.
#: Half of a detector's snapshot time was this JSON round trip, at every checkpoint.
_IDENTITIES: dict[tuple[type, tuple[Any, ...]], dict[str, Any]] = {}
_MAX_IDENTITIES = 4096
_SCALARS = frozenset({bool, int, float, str, type(None)})


def _params_key(values: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """A key that determines the parameters' JSON, or ``None`` (not kept).

    Each value is keyed by its type and ``repr``: for numbers, strings and ``None`` the
    JSON is a function of those, for an object that cannot change in place (a
    ``RuleSet``) the JSON is its ``repr``. Anything else (a list, a dict, a subclass of
    int) is never kept. Equal values of other types (1, 1.0, True) or -0.0 and 0.0 have
    other keys.

    >>> _params_key((1, 1.0, None)) != _params_key((1.0, 1, None))
    True
    >>> _params_key(([1],)) is None, _params_key(((1, "a"),)) is None
    (True, False)
    """
    key: list[Any] = []
    for value in values:
        kind = type(value)
        if kind in _SCALARS or getattr(kind, "unchangeable_parameter", False) is True:
            key.append((kind, repr(value)))
        elif kind is tuple:
            inner = _params_key(value)
            if inner is None:
                return None
            key.append((tuple, inner))
        else:
            return None
    return tuple(key)


def empty_evaluation() -> Evaluation:
    """The shared empty result (nothing plotted, nothing signalled)."""
    return _EMPTY


def finite(value: float, what: str = "value") -> float:
    """``value`` as float, or :class:`DetectorInputError` if NaN, inf, implausible or no number.

    >>> finite(5e-324), finite(-1e100)
    (5e-324, -1e+100)
    >>> finite(1e200)
    Traceback (most recent call last):
    ...
    linewatch.detectors.base.DetectorInputError: implausible value: value 1e+200 is beyond ±1e+100
    """
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise DetectorInputError(f"{what} must be a number, got {value!r}") from exc
    if not math.isfinite(number):
        raise DetectorInputError(f"{what} must be finite, got {number!r}")
    if abs(number) > MAX_MAGNITUDE:
        raise DetectorInputError(
            f"implausible value: {what} {number!r} is beyond ±{MAX_MAGNITUDE!r}"
        )
    return number


def as_values(xs: Iterable[Any], what: str = "subgroup") -> list[float]:
    """Finite floats from ``xs``; raises :class:`DetectorInputError` naming the bad member."""
    return [finite(x, f"{what}[{i}]") for i, x in enumerate(xs)]
