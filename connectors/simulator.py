"""Line simulator: wire records of a manufacturing line, with known faults injected.

A :class:`LineSim` describes stations; one part enters every ``cycle_s`` seconds and
visits the stations in order, ``station_gap_s`` apart. At each station the part gets one
reading per equipment :class:`ParameterSim` (an AR(1) process), one measurement per
:class:`CharacteristicSim` and, at an inspecting station, one :class:`Inspection` whose
defects come from :class:`DefectSim` rates that a parameter can drive. :class:`FaultSim`
injects the textbook out-of-control patterns at known times, so tests and demos have a
ground truth (:func:`fault_windows`).

Each characteristic, parameter, defect, fault and the part timing draws from its own
PCG64 stream keyed by its name and the seed: adding a fault or a station never changes
the noise of anything else.

>>> from datetime import datetime, timezone
>>> start = datetime(2026, 11, 2, 6, 0, tzinfo=timezone.utc)
>>> records = list(simulate(welding_line(), start, minutes=1, seed=7))
>>> len(records)  # 2 parts x (4 at weld-2 + 3 at trim + 1 inspection at final)
16
>>> first = records[0]
>>> type(first).__name__, first.station, first.equipment, first.name, first.part_id
('Parameter', 'weld-2', 'welder-07', 'tip_temp_c', 'L3-P0000001')
>>> all(a.ts <= b.ts for a, b in zip(records, records[1:]))
True
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import math
import re
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from numpy.random import PCG64, Generator, SeedSequence

from linewatch.pipeline.models import Attribute, Inspection, Measurement, Parameter, WireRecord

__all__ = [
    "FAULT_KINDS",
    "MAX_DRIVEN_RATE",
    "CharacteristicSim",
    "DefectSim",
    "FaultSim",
    "LineSim",
    "ParameterSim",
    "StationSim",
    "fault_windows",
    "format_fault",
    "parse_fault",
    "simulate",
    "validate_faults",
    "welding_faults",
    "welding_line",
]

#: The out-of-control patterns of the SPC textbooks (Western Electric handbook, Montgomery).
FAULT_KINDS = ("shift", "trend", "variance", "cycle", "mixture", "stratification")

_US_PER_S = 1_000_000
_US_PER_MIN = 60 * _US_PER_S
# Variates are drawn this many at a time: one numpy call per block instead of per value.
# It is a constant, so the values never depend on it.
_BLOCK = 1024
#: A driven defect rate never exceeds this: a line scrapping more parts would be stopped.
MAX_DRIVEN_RATE = 0.5


def _check_name(what: str, value: str) -> None:
    # Names are joined with "/" into targets and stream keys, so "/" would be ambiguous.
    if not value or "/" in value or any(char.isspace() for char in value):
        raise ValueError(f"{what} must be non-empty, without '/' or whitespace, got {value!r}")


def _check_finite(what: str, value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value!r}")


def _check_unique(what: str, names: Sequence[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"duplicate {what} {name!r}")
        seen.add(name)


# --------------------------------------------------------------------------- specs


@dataclass(frozen=True, slots=True)
class CharacteristicSim:
    """A measured characteristic: one normal value per part, ``mean ± sigma``.

    Consecutive parts form rational subgroups of ``subgroup_size``, with ids ``SG-1``,
    ``SG-2``... (no id when the size is 1: an individuals chart needs none).

    >>> CharacteristicSim("nugget_dia_mm", mean=5.4, sigma=0.08, subgroup_size=5).sigma
    0.08
    >>> CharacteristicSim("gap", mean=1.0, sigma=0.0)
    Traceback (most recent call last):
    ValueError: characteristic 'gap': sigma must be positive, got 0.0
    """

    name: str
    mean: float
    sigma: float
    subgroup_size: int = 1

    def __post_init__(self) -> None:
        _check_name("characteristic name", self.name)
        _check_finite(f"characteristic {self.name!r}: mean", self.mean)
        _check_finite(f"characteristic {self.name!r}: sigma", self.sigma)
        if self.sigma <= 0:
            raise ValueError(
                f"characteristic {self.name!r}: sigma must be positive, got {self.sigma}"
            )
        if self.subgroup_size < 1:
            raise ValueError(
                f"characteristic {self.name!r}: subgroup_size must be at least 1, "
                f"got {self.subgroup_size}"
            )


@dataclass(frozen=True, slots=True)
class ParameterSim:
    """An equipment parameter read once per part: AR(1) around ``mean``.

    ``x_t - mean = phi * (x_{t-1} - mean) + e_t`` with the innovation sd chosen so that the
    stationary sd is ``sigma`` whatever ``phi`` (real sensors drift slowly: phi ~ 0.5-0.9).

    >>> ParameterSim("welder-07", "tip_temp_c", mean=410.0, sigma=3.0, phi=0.6).phi
    0.6
    """

    equipment: str
    name: str
    mean: float
    sigma: float
    phi: float = 0.0

    def __post_init__(self) -> None:
        _check_name("equipment name", self.equipment)
        _check_name("parameter name", self.name)
        what = f"parameter {self.equipment}/{self.name}"
        _check_finite(f"{what}: mean", self.mean)
        _check_finite(f"{what}: sigma", self.sigma)
        if self.sigma <= 0:
            raise ValueError(f"{what}: sigma must be positive, got {self.sigma}")
        if not -1.0 < self.phi < 1.0:
            raise ValueError(f"{what}: phi must be in (-1, 1) to be stationary, got {self.phi}")


@dataclass(frozen=True, slots=True)
class DefectSim:
    """A defect each part has with some probability, optionally driven by a parameter.

    ``driver`` is ``"station/equipment/name"``. With ``z`` the driver's standardised
    excursion ``(x - mean) / sigma`` as read ``lag_s`` seconds before the part is
    inspected (the latest reading at or before then; 0 before any), the probability is

        p = base_rate                                    if z <= 1
        p = min(0.5, base_rate * exp(sensitivity * (z - 1)))  otherwise

    Excursions within one sigma are the normal process and change nothing; only the
    upward side drives (a hot electrode tip makes porosity, a cool one does not); the 0.5
    cap keeps ``p`` a probability and the line plausible (a base rate above 0.5 is kept).
    ``reworkable`` (added field): a failed part whose defects are all reworkable is
    marked ``rework=True`` (it is repaired, not scrapped).

    >>> DefectSim("porosity", 0.005, driver="weld-2/welder-07/tip_temp_c",
    ...           sensitivity=1.5, lag_s=300).lag_s
    300
    >>> DefectSim("crack", 1.5)
    Traceback (most recent call last):
    ValueError: defect 'crack': base_rate must be in [0, 1], got 1.5
    """

    code: str
    base_rate: float
    driver: str | None = None
    sensitivity: float = 0.0
    lag_s: float = 0.0
    reworkable: bool = False

    def __post_init__(self) -> None:
        _check_name("defect code", self.code)
        if not 0.0 <= self.base_rate <= 1.0:  # also rejects NaN
            raise ValueError(
                f"defect {self.code!r}: base_rate must be in [0, 1], got {self.base_rate}"
            )
        _check_finite(f"defect {self.code!r}: sensitivity", self.sensitivity)
        if not (math.isfinite(self.lag_s) and self.lag_s >= 0):
            raise ValueError(f"defect {self.code!r}: lag_s must be >= 0, got {self.lag_s}")
        if self.driver is not None and (
            len(parts := self.driver.split("/")) != 3 or not all(parts)
        ):
            raise ValueError(
                f"defect {self.code!r}: driver must be 'station/equipment/name', "
                f"got {self.driver!r}"
            )


@dataclass(frozen=True, slots=True)
class StationSim:
    """A station: its characteristics, equipment parameters and inspection.

    ``inspects``: one :class:`Inspection` per part, ``fail`` when it has any defect.
    ``lot_size``: also one :class:`Attribute` per defect code every ``lot_size`` parts
    (``inspected=lot_size``, ``nonconforming`` = parts of the lot with that defect); a
    partial lot at the end of the run is not reported. Lists are accepted and stored as
    tuples.

    >>> StationSim("trim", characteristics=[CharacteristicSim("gap", 1.2, 0.05)]).characteristics
    (CharacteristicSim(name='gap', mean=1.2, sigma=0.05, subgroup_size=1),)
    """

    name: str
    characteristics: tuple[CharacteristicSim, ...] = ()
    parameters: tuple[ParameterSim, ...] = ()
    inspects: bool = False
    defects: tuple[DefectSim, ...] = ()
    lot_size: int | None = None

    def __post_init__(self) -> None:
        _check_name("station name", self.name)
        # A config loader may hand over lists; tuples keep the spec hashable and frozen.
        for field_name in ("characteristics", "parameters", "defects"):
            object.__setattr__(self, field_name, tuple(getattr(self, field_name)))
        where = f"station {self.name!r}"
        _check_unique(f"characteristic at {where}:", [c.name for c in self.characteristics])
        _check_unique(
            f"parameter at {where}:", [f"{p.equipment}/{p.name}" for p in self.parameters]
        )
        _check_unique(f"defect code at {where}:", [d.code for d in self.defects])
        if self.lot_size is not None and self.lot_size < 1:
            raise ValueError(f"{where}: lot_size must be at least 1, got {self.lot_size}")


@dataclass(frozen=True, slots=True)
class LineSim:
    """A line: one part every ``cycle_s`` seconds flows through ``stations`` in order.

    Added fields: ``station_gap_s`` (a part reaches each station this long after the
    previous one) and ``jitter_frac`` (each part enters up to this fraction of a cycle
    late, uniformly; below 1 so parts never overtake each other).

    >>> line = LineSim("L1", (StationSim("s1", (CharacteristicSim("d", 1.0, 0.1),)),))
    >>> line.targets()
    ('s1/d',)
    >>> LineSim("L1", (StationSim("s1", defects=(DefectSim("x", 0.1, driver="s1/e/t"),)),))
    Traceback (most recent call last):
    ValueError: line 'L1': defect 'x' at station 's1' has driver 's1/e/t', which is not a \
parameter of the line (parameters: none)
    """

    line: str
    stations: tuple[StationSim, ...]
    cycle_s: float = 30.0
    station_gap_s: float = 5.0
    jitter_frac: float = 0.05

    def __post_init__(self) -> None:
        _check_name("line name", self.line)
        object.__setattr__(self, "stations", tuple(self.stations))
        where = f"line {self.line!r}"
        if not self.stations:
            raise ValueError(f"{where}: needs at least one station")
        _check_unique(f"station in {where}:", [s.name for s in self.stations])
        if not (math.isfinite(self.cycle_s) and self.cycle_s > 0):
            raise ValueError(f"{where}: cycle_s must be positive, got {self.cycle_s}")
        if not (math.isfinite(self.station_gap_s) and self.station_gap_s >= 0):
            raise ValueError(f"{where}: station_gap_s must be >= 0, got {self.station_gap_s}")
        if not 0.0 <= self.jitter_frac < 1.0:
            raise ValueError(f"{where}: jitter_frac must be in [0, 1), got {self.jitter_frac}")
        if round(self.cycle_s * _US_PER_S) < 1:
            raise ValueError(f"{where}: cycle_s must be at least 1 µs, got {self.cycle_s}")
        parameters = self.parameter_targets()
        for station in self.stations:
            for defect in station.defects:
                if defect.driver is not None and defect.driver not in parameters:
                    raise ValueError(
                        f"{where}: defect {defect.code!r} at station {station.name!r} has "
                        f"driver {defect.driver!r}, which is not a parameter of the line "
                        f"(parameters: {', '.join(parameters) or 'none'})"
                    )

    def parameter_targets(self) -> tuple[str, ...]:
        """``station/equipment/name`` of every parameter, in line order."""
        return tuple(
            f"{s.name}/{p.equipment}/{p.name}" for s in self.stations for p in s.parameters
        )

    def targets(self) -> tuple[str, ...]:
        """Every fault target: ``station/characteristic`` then ``station/equipment/name``."""
        characteristics = tuple(
            f"{s.name}/{c.name}" for s in self.stations for c in s.characteristics
        )
        return characteristics + self.parameter_targets()


@dataclass(frozen=True, slots=True)
class FaultSim:
    """A fault on one characteristic or parameter, active from ``start_min`` (minutes after
    the simulation start) for ``duration_min`` minutes; ``sigma`` is the target's.

    - ``shift``: the mean moves by ``magnitude * sigma`` at once.
    - ``trend``: the mean drifts linearly, reaching ``magnitude * sigma`` at the end.
    - ``variance``: the sd is multiplied by ``magnitude``.
    - ``cycle``: a sinusoid of amplitude ``magnitude * sigma`` and period ``period_min``.
    - ``mixture``: values come from two populations at ``mean ± magnitude * sigma`` (same
      sd), picked at random per subgroup (per value when the subgroup size is 1), so the
      chart avoids its center line.
    - ``stratification``: the sd is divided by ``magnitude``: points hug the center line.

    Several faults on one target add their offsets and multiply their sd factors. Outside
    its window a fault changes nothing (the process is restored, e.g. by maintenance).

    >>> fault = FaultSim("shift", "weld-2/nugget_dia_mm", start_min=120, duration_min=60)
    >>> fault.label, fault.end_min
    ('shift:weld-2/nugget_dia_mm@2h+1h*1.5', 180)
    """

    kind: str
    target: str
    start_min: float
    duration_min: float
    magnitude: float = 1.5
    period_min: float = 10.0
    name: str = ""

    def __post_init__(self) -> None:
        what = f"fault {self.name or self.kind + ':' + self.target!r}"
        if self.kind not in FAULT_KINDS:
            raise ValueError(
                f"{what}: unknown kind {self.kind!r}; expected one of {', '.join(FAULT_KINDS)}"
            )
        parts = self.target.split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise ValueError(
                f"{what}: target must be 'station/characteristic' or "
                f"'station/equipment/name', got {self.target!r}"
            )
        if not (math.isfinite(self.start_min) and self.start_min >= 0):
            raise ValueError(f"{what}: start must be >= 0 minutes, got {self.start_min}")
        if not (math.isfinite(self.duration_min) and self.duration_min > 0):
            raise ValueError(f"{what}: duration must be positive, got {self.duration_min}")
        if not (math.isfinite(self.period_min) and self.period_min > 0):
            raise ValueError(f"{what}: period must be positive, got {self.period_min}")
        _check_finite(f"{what}: magnitude", self.magnitude)
        if self.kind in ("variance", "stratification") and self.magnitude <= 0:
            raise ValueError(
                f"{what}: magnitude of a {self.kind} fault is an sd factor and must be "
                f"positive, got {self.magnitude}"
            )

    @property
    def end_min(self) -> float:
        """When the fault stops, in minutes after the simulation start."""
        return self.start_min + self.duration_min

    @property
    def label(self) -> str:
        """``name`` if given, else the fault's :func:`format_fault` text."""
        return self.name or format_fault(self)


# --------------------------------------------------------------------------- faults as text


_DURATION = re.compile(r"(?P<number>\d+(?:\.\d*)?|\.\d+)(?P<unit>[mh])")


def _parse_duration(text: str, whole: str, what: str) -> float:
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"bad fault {whole!r}: {what} {text!r} is not a duration like 90m or 1.5h")
    number = float(match["number"])
    return number * 60.0 if match["unit"] == "h" else number


def _format_number(value: float) -> str:
    # Shortest digits that read back to the same float, never an exponent ("1e+16" would
    # clash with the "+" before the duration); integers lose the ".0".
    return np.format_float_positional(float(value), trim="-")


def _format_duration(minutes: float) -> str:
    hours = minutes / 60.0
    if minutes > 0 and hours.is_integer() and hours * 60.0 == minutes:
        return f"{_format_number(hours)}h"
    return f"{_format_number(minutes)}m"


def parse_fault(text: str) -> FaultSim:
    """A fault from its command-line text: ``kind:target@start+duration[*magnitude][~period]``.

    ``start`` (from the simulation start), ``duration`` and ``period`` take a unit, ``m``
    (minutes) or ``h`` (hours); ``magnitude`` is a plain number (default 1.5) and ``period``
    (default 10m) matters to ``cycle`` only. ``kind`` is one of :data:`FAULT_KINDS`;
    ``target`` is ``station/characteristic`` or ``station/equipment/name``.

    >>> parse_fault("shift:weld-2/nugget_dia_mm@120m+60m*1.5")
    FaultSim(kind='shift', target='weld-2/nugget_dia_mm', start_min=120.0, duration_min=60.0, \
magnitude=1.5, period_min=10.0, name='')
    >>> fault = parse_fault("trend:weld-2/welder-07/tip_temp_c@2h+90m*4")
    >>> fault.start_min, fault.duration_min, fault.magnitude
    (120.0, 90.0, 4.0)
    >>> parse_fault("cycle:weld-2/welder-07/weld_current_ka@1h+2h*2~15m").period_min
    15.0
    >>> parse_fault("shift:weld-2/nugget_dia_mm@2h+1h").magnitude
    1.5
    >>> parse_fault("shift:weld-2/nugget_dia_mm@2h+60*1.5")
    Traceback (most recent call last):
    ValueError: bad fault 'shift:weld-2/nugget_dia_mm@2h+60*1.5': duration '60' is not a \
duration like 90m or 1.5h
    >>> parse_fault("drift:weld-2/nugget_dia_mm@2h+1h")
    Traceback (most recent call last):
    ValueError: bad fault 'drift:weld-2/nugget_dia_mm@2h+1h': unknown kind 'drift'; expected \
one of shift, trend, variance, cycle, mixture, stratification
    """
    whole = text
    syntax = "expected kind:target@start+duration[*magnitude][~period], e.g. shift:st/x@2h+30m*1.5"
    kind, colon, rest = text.strip().partition(":")
    if not colon:
        raise ValueError(f"bad fault {whole!r}: no ':' after the kind; {syntax}")
    kind = kind.strip()
    if kind not in FAULT_KINDS:
        raise ValueError(
            f"bad fault {whole!r}: unknown kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}"
        )
    target, at, timing = rest.partition("@")
    target = target.strip()
    if not at:
        raise ValueError(f"bad fault {whole!r}: no '@' before the start time; {syntax}")
    target_parts = target.split("/")
    if len(target_parts) not in (2, 3) or not all(part.strip() for part in target_parts):
        raise ValueError(
            f"bad fault {whole!r}: target {target!r} is not station/characteristic or "
            "station/equipment/name"
        )
    start_text, plus, rest = timing.partition("+")
    if not plus:
        raise ValueError(f"bad fault {whole!r}: no '+' before the duration; {syntax}")
    rest, tilde, period_text = rest.partition("~")
    duration_text, star, magnitude_text = rest.partition("*")
    start_min = _parse_duration(start_text, whole, "start")
    duration_min = _parse_duration(duration_text, whole, "duration")
    period_min = _parse_duration(period_text, whole, "period") if tilde else 10.0
    magnitude = 1.5
    if star:
        try:
            magnitude = float(magnitude_text)
        except ValueError:
            raise ValueError(
                f"bad fault {whole!r}: magnitude {magnitude_text!r} is not a number"
            ) from None
    try:
        return FaultSim(kind, target, start_min, duration_min, magnitude, period_min)
    except ValueError as error:
        raise ValueError(f"bad fault {whole!r}: {error}") from None


def format_fault(fault: FaultSim) -> str:
    """The :func:`parse_fault` text of ``fault`` (its ``name`` is not part of the text).

    >>> format_fault(FaultSim("cycle", "s/e/p", start_min=90, duration_min=120, magnitude=2,
    ...                       period_min=7.5))
    'cycle:s/e/p@90m+2h*2~7.5m'
    >>> text = "trend:weld-2/welder-07/tip_temp_c@14h+90m*4"
    >>> format_fault(parse_fault(text)) == text
    True
    """
    text = (
        f"{fault.kind}:{fault.target}@{_format_duration(fault.start_min)}"
        f"+{_format_duration(fault.duration_min)}*{_format_number(fault.magnitude)}"
    )
    if fault.kind == "cycle" or fault.period_min != 10.0:
        text += f"~{_format_duration(fault.period_min)}"
    return text


def validate_faults(line: LineSim, faults: Sequence[FaultSim]) -> None:
    """Raise ValueError naming the fault and its target when the target is not on ``line``.

    >>> line = welding_line()
    >>> validate_faults(line, welding_faults())
    >>> validate_faults(line, [parse_fault("shift:weld-2/nugget_dia@1h+1h")])
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: fault 'shift:weld-2/nugget_dia@1h+1h*1.5': target 'weld-2/nugget_dia' is not a \
characteristic or parameter of line 'L3'; known targets: weld-2/nugget_dia_mm, ...
    """
    known = line.targets()
    for fault in faults:
        if fault.target not in known:
            raise ValueError(
                f"fault {fault.label!r}: target {fault.target!r} is not a characteristic or "
                f"parameter of line {line.line!r}; known targets: {', '.join(known)}"
            )


def fault_windows(faults: Sequence[FaultSim], start: datetime) -> list[dict[str, str]]:
    """The ground truth: each fault's ``name`` (its label), ``kind``, ``target`` and
    ``start``/``end`` as ISO timestamps (UTC), in the order given.

    >>> start = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
    >>> fault_windows([parse_fault("shift:weld-2/nugget_dia_mm@2h+30m*1.5")], start)
    [{'name': 'shift:weld-2/nugget_dia_mm@2h+30m*1.5', 'kind': 'shift', \
'target': 'weld-2/nugget_dia_mm', 'start': '2026-11-02T08:00:00+00:00', \
'end': '2026-11-02T08:30:00+00:00'}]
    """
    origin = _as_utc(start)
    return [
        {
            "name": fault.label,
            "kind": fault.kind,
            "target": fault.target,
            "start": (origin + _minutes(fault.start_min)).isoformat(),
            "end": (origin + _minutes(fault.end_min)).isoformat(),
        }
        for fault in faults
    ]


def _minutes(minutes: float) -> timedelta:
    # Same microsecond rounding as the simulation clock, so windows and records agree.
    return timedelta(microseconds=round(minutes * _US_PER_MIN))


def _as_utc(start: datetime) -> datetime:
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError(f"start must be timezone-aware, got naive {start.isoformat()}")
    return start.astimezone(UTC)


# --------------------------------------------------------------------------- the run


def _stream(seed: int, key: str) -> Generator:
    """An independent PCG64 stream for ``key``: keyed, not spawned in order, so adding
    a station or fault never shifts the streams of the others."""
    digest = hashlib.blake2b(key.encode(), digest_size=16).digest()
    words = tuple(int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4))
    return Generator(PCG64(SeedSequence(seed, spawn_key=words)))


class _Draws:
    """Variates of one stream, drawn a block at a time."""

    __slots__ = ("_buffer", "_draw", "_index")

    def __init__(self, draw: Callable[[int], np.ndarray[Any, np.dtype[np.float64]]]) -> None:
        self._draw = draw
        self._buffer: list[float] = []
        self._index = 0

    def next(self) -> float:
        if self._index == len(self._buffer):
            self._buffer = self._draw(_BLOCK).tolist()
            self._index = 0
        value = self._buffer[self._index]
        self._index += 1
        return value


class _FaultState:
    """One fault on one target, in simulation microseconds."""

    __slots__ = (
        "amount",
        "duration_us",
        "end_us",
        "group",
        "kind",
        "magnitude",
        "period_us",
        "sign",
        "signs",
        "start_us",
    )

    def __init__(self, fault: FaultSim, sigma: float, seed: int) -> None:
        self.kind = fault.kind
        self.magnitude = float(fault.magnitude)
        self.amount = fault.magnitude * sigma
        self.start_us = round(fault.start_min * _US_PER_MIN)
        self.end_us = round(fault.end_min * _US_PER_MIN)
        self.duration_us = self.end_us - self.start_us
        self.period_us = fault.period_min * _US_PER_MIN
        # Keyed by the fault itself: mixture draws never touch the target's noise stream.
        self.signs = _Draws(_stream(seed, f"fault/{fault.label}").random)
        self.group = -1
        self.sign = 1.0

    def effect(self, t_us: int, group: int) -> tuple[float, float]:
        """(offset added to the mean, factor on the deviation) at ``t_us``, inside the window."""
        elapsed = t_us - self.start_us
        kind = self.kind
        if kind == "shift":
            return self.amount, 1.0
        if kind == "trend":
            return self.amount * elapsed / self.duration_us, 1.0
        if kind == "variance":
            return 0.0, self.magnitude
        if kind == "cycle":
            return self.amount * math.sin(2.0 * math.pi * elapsed / self.period_us), 1.0
        if kind == "mixture":
            if group != self.group:  # one population per subgroup: the X-bar avoids the center
                self.group = group
                self.sign = 1.0 if self.signs.next() < 0.5 else -1.0
            return self.sign * self.amount, 1.0
        return 0.0, 1.0 / self.magnitude  # stratification


class _Channel:
    """The values of one characteristic or parameter: mean + offset + factor * deviation."""

    __slots__ = ("deviation", "faults", "innovation_sd", "mean", "noise", "phi", "sigma")

    def __init__(self, mean: float, sigma: float, phi: float, noise: _Draws) -> None:
        self.mean = mean
        self.sigma = sigma
        self.phi = phi
        self.innovation_sd = sigma * math.sqrt(1.0 - phi * phi)
        self.noise = noise
        self.faults: list[_FaultState] = []
        self.deviation: float | None = None

    def value(self, t_us: int, group: int) -> float:
        z = self.noise.next()
        if self.deviation is None:  # start in the stationary distribution
            deviation = self.sigma * z
        else:
            deviation = self.phi * self.deviation + self.innovation_sd * z
        self.deviation = deviation
        offset, factor = 0.0, 1.0
        for fault in self.faults:
            if fault.start_us <= t_us < fault.end_us:
                fault_offset, fault_factor = fault.effect(t_us, group)
                offset += fault_offset
                factor *= fault_factor
        return self.mean + offset + factor * deviation


class _DefectState:
    """One defect code at one station, with the lagged history of its driver."""

    __slots__ = ("base_rate", "code", "draws", "history", "lag_us", "reworkable", "sensitivity")

    def __init__(self, defect: DefectSim, draws: _Draws) -> None:
        self.code = defect.code
        self.base_rate = defect.base_rate
        self.sensitivity = defect.sensitivity
        self.lag_us = round(defect.lag_s * _US_PER_S)
        self.reworkable = defect.reworkable
        self.draws = draws
        # (t_us, z) of driver readings not yet superseded at the lagged time.
        self.history: deque[tuple[int, float]] = deque()

    def occurs(self, t_us: int) -> bool:
        # Always draw, so a fault on the driver changes whether, never which, draws are used.
        u = self.draws.next()
        history = self.history
        if not history:
            return u < self.base_rate
        cutoff = t_us - self.lag_us
        while len(history) > 1 and history[1][0] <= cutoff:
            history.popleft()
        z = history[0][1] if history[0][0] <= cutoff else 0.0
        if z <= 1.0:
            return u < self.base_rate
        driven = self.base_rate * math.exp(min(self.sensitivity * (z - 1.0), 700.0))
        return u < min(max(MAX_DRIVEN_RATE, self.base_rate), driven)


class _StationState:
    __slots__ = (
        "characteristics",
        "defects",
        "inspects",
        "lot_counts",
        "lot_parts",
        "lot_size",
        "name",
        "offset_us",
        "parameters",
    )

    def __init__(self, station: StationSim, offset_us: int) -> None:
        self.name = station.name
        self.offset_us = offset_us
        self.inspects = station.inspects
        self.lot_size = station.lot_size
        self.characteristics: list[tuple[str, int, _Channel]] = []
        self.parameters: list[tuple[str, str, _Channel, list[_DefectState], float, float]] = []
        self.defects: list[_DefectState] = []
        self.lot_counts = [0] * len(station.defects)
        self.lot_parts = 0


def _build(line: LineSim, faults: Sequence[FaultSim], seed: int) -> list[_StationState]:
    stations: list[_StationState] = []
    channels: dict[str, _Channel] = {}
    listeners: dict[str, list[_DefectState]] = {}
    gap_us = round(line.station_gap_s * _US_PER_S)
    for index, spec in enumerate(line.stations):
        state = _StationState(spec, index * gap_us)
        for c in spec.characteristics:
            target = f"{spec.name}/{c.name}"
            noise = _Draws(_stream(seed, f"characteristic/{target}").standard_normal)
            channel = channels[target] = _Channel(c.mean, c.sigma, 0.0, noise)
            state.characteristics.append((c.name, c.subgroup_size, channel))
        for p in spec.parameters:
            target = f"{spec.name}/{p.equipment}/{p.name}"
            noise = _Draws(_stream(seed, f"parameter/{target}").standard_normal)
            channel = channels[target] = _Channel(p.mean, p.sigma, p.phi, noise)
            driven = listeners.setdefault(target, [])
            state.parameters.append((p.equipment, p.name, channel, driven, p.mean, p.sigma))
        for d in spec.defects:
            draws = _Draws(_stream(seed, f"defect/{spec.name}/{d.code}").random)
            defect = _DefectState(d, draws)
            state.defects.append(defect)
            if d.driver is not None:
                listeners.setdefault(d.driver, []).append(defect)
        stations.append(state)
    for fault in faults:
        channel = channels[fault.target]
        channel.faults.append(_FaultState(fault, channel.sigma, seed))
    return stations


def simulate(
    line: LineSim,
    start: datetime,
    minutes: float,
    faults: Sequence[FaultSim] = (),
    seed: int = 0,
) -> Iterator[WireRecord]:
    """Records of ``line`` for ``minutes`` from ``start`` with ``faults``, in time order.

    Parts enter at ``k * cycle_s`` (plus jitter) while that is before ``start + minutes``;
    their records at later stations may fall after. ``minutes`` may be ``math.inf`` for an
    endless stream. Memory stays constant: only the records that a later part could still
    precede are held back. The same arguments always give the same records.
    Raises ValueError at once for a naive ``start``, negative ``minutes`` or ``seed``, or
    a fault whose target is not on the line.

    >>> from itertools import islice
    >>> start = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
    >>> endless = simulate(welding_line(), start, math.inf)
    >>> [r.ts.isoformat() for r in islice(endless, 0, 16, 4)]  # doctest: +ELLIPSIS
    ['2026-11-02T06:00:00.8...+00:00', '2026-11-02T06:00:05.8...+00:00', ...]
    """
    origin = _as_utc(start)
    if math.isnan(minutes) or minutes < 0:
        raise ValueError(f"minutes must be >= 0, got {minutes}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    validate_faults(line, faults)
    return _run(line, origin, minutes, tuple(faults), seed)


def _run(
    line: LineSim, origin: datetime, minutes: float, faults: tuple[FaultSim, ...], seed: int
) -> Iterator[WireRecord]:
    stations = _build(line, faults, seed)
    name = line.line
    cycle_us = round(line.cycle_s * _US_PER_S)
    jitter_us = cycle_us * line.jitter_frac
    total_us = minutes * _US_PER_MIN
    timing = _Draws(_stream(seed, "timing").random)
    pending: list[tuple[int, int, WireRecord]] = []  # heap by (t_us, creation order)
    order = itertools.count()
    push = heapq.heappush
    pop = heapq.heappop
    for part in itertools.count():
        entry_us = part * cycle_us
        if entry_us >= total_us:
            break
        # No record of this or a later part can be earlier than its earliest entry.
        while pending and pending[0][0] <= entry_us:
            yield pop(pending)[2]
        entry_us += int(timing.next() * jitter_us)
        part_id = f"{name}-P{part + 1:07d}"
        for station in stations:
            t_us = entry_us + station.offset_us
            ts = origin + timedelta(microseconds=t_us)
            where = station.name
            for equipment, parameter, channel, driven, mean, sigma in station.parameters:
                value = channel.value(t_us, part)
                if driven:
                    z = (value - mean) / sigma
                    for defect in driven:
                        defect.history.append((t_us, z))
                record: WireRecord = Parameter(
                    ts=ts,
                    line=name,
                    station=where,
                    equipment=equipment,
                    name=parameter,
                    value=value,
                    part_id=part_id,
                )
                push(pending, (t_us, next(order), record))
            for characteristic, size, channel in station.characteristics:
                group = part // size
                record = Measurement(
                    ts=ts,
                    line=name,
                    station=where,
                    characteristic=characteristic,
                    value=channel.value(t_us, group),
                    subgroup=f"SG-{group + 1}" if size > 1 else None,
                    part_id=part_id,
                )
                push(pending, (t_us, next(order), record))
            if not station.defects and not station.inspects:
                continue
            found = [defect for defect in station.defects if defect.occurs(t_us)]
            if station.inspects:
                record = Inspection(
                    ts=ts,
                    line=name,
                    station=where,
                    part_id=part_id,
                    result="fail" if found else "pass",
                    defects=len(found),
                    defect_codes=[defect.code for defect in found],
                    rework=bool(found) and all(defect.reworkable for defect in found),
                )
                push(pending, (t_us, next(order), record))
            if station.lot_size is not None:
                for index, defect in enumerate(station.defects):
                    if defect in found:
                        station.lot_counts[index] += 1
                station.lot_parts += 1
                if station.lot_parts == station.lot_size:
                    for index, defect in enumerate(station.defects):
                        record = Attribute(
                            ts=ts,
                            line=name,
                            station=where,
                            characteristic=defect.code,
                            inspected=station.lot_size,
                            nonconforming=station.lot_counts[index],
                        )
                        push(pending, (t_us, next(order), record))
                    station.lot_counts = [0] * len(station.defects)
                    station.lot_parts = 0
    while pending:
        yield pop(pending)[2]


# --------------------------------------------------------------------------- the default line


def welding_line() -> LineSim:
    """Line ``L3``: spot welding (``weld-2``), trimming (``trim``) and final inspection.

    Porosity at ``final`` follows the electrode tip temperature at ``weld-2`` five minutes
    earlier (it takes that long for a part to reach final inspection in a real plant);
    spatter is ground off (reworkable); cracks are rare.

    >>> line = welding_line()
    >>> [s.name for s in line.stations], line.cycle_s
    (['weld-2', 'trim', 'final'], 30.0)
    >>> line.targets()  # doctest: +NORMALIZE_WHITESPACE
    ('weld-2/nugget_dia_mm', 'trim/flange_gap_mm', 'trim/trim_length_mm',
     'weld-2/welder-07/tip_temp_c', 'weld-2/welder-07/weld_current_ka',
     'weld-2/welder-07/electrode_force_kn', 'trim/trim-press-03/hydraulic_pressure_bar')
    """
    weld = StationSim(
        "weld-2",
        characteristics=(CharacteristicSim("nugget_dia_mm", 5.4, 0.08, subgroup_size=5),),
        parameters=(
            ParameterSim("welder-07", "tip_temp_c", 410.0, 3.0, phi=0.6),
            ParameterSim("welder-07", "weld_current_ka", 9.5, 0.15, phi=0.3),
            ParameterSim("welder-07", "electrode_force_kn", 3.2, 0.05, phi=0.2),
        ),
    )
    trim = StationSim(
        "trim",
        characteristics=(
            CharacteristicSim("flange_gap_mm", 1.2, 0.05, subgroup_size=5),
            CharacteristicSim("trim_length_mm", 250.0, 0.2),
        ),
        parameters=(ParameterSim("trim-press-03", "hydraulic_pressure_bar", 180.0, 2.0, phi=0.5),),
    )
    final = StationSim(
        "final",
        inspects=True,
        defects=(
            DefectSim(
                "porosity",
                0.005,
                driver="weld-2/welder-07/tip_temp_c",
                sensitivity=1.5,
                lag_s=300.0,
            ),
            DefectSim("spatter", 0.01, reworkable=True),
            DefectSim("crack", 0.0005),
        ),
        lot_size=50,
    )
    return LineSim("L3", (weld, trim, final), cycle_s=30.0)


def welding_faults() -> list[FaultSim]:
    """One fault of every kind on :func:`welding_line` over a 3-day run, hours apart.

    The ``trend`` on the tip temperature is the cause-and-effect case: porosity at
    ``final`` rises about five minutes after the temperature passes one sigma.

    >>> hours = [(f.kind, f.target, f.start_min / 60) for f in welding_faults()]
    >>> hours  # doctest: +NORMALIZE_WHITESPACE
    [('shift', 'weld-2/nugget_dia_mm', 6.0), ('trend', 'weld-2/welder-07/tip_temp_c', 14.0),
     ('variance', 'trim/flange_gap_mm', 24.0),
     ('cycle', 'weld-2/welder-07/weld_current_ka', 34.0),
     ('mixture', 'trim/trim_length_mm', 46.0),
     ('stratification', 'weld-2/welder-07/electrode_force_kn', 58.0)]
    """
    return [
        FaultSim("shift", "weld-2/nugget_dia_mm", 6 * 60, 120, 1.5, name="nugget-shift"),
        FaultSim("trend", "weld-2/welder-07/tip_temp_c", 14 * 60, 90, 4.0, name="tip-overheat"),
        FaultSim("variance", "trim/flange_gap_mm", 24 * 60, 120, 2.0, name="gap-variance"),
        FaultSim(
            "cycle",
            "weld-2/welder-07/weld_current_ka",
            34 * 60,
            180,
            2.0,
            period_min=30.0,
            name="current-cycle",
        ),
        FaultSim("mixture", "trim/trim_length_mm", 46 * 60, 120, 2.0, name="length-mixture"),
        FaultSim(
            "stratification",
            "weld-2/welder-07/electrode_force_kn",
            58 * 60,
            180,
            3.0,
            name="force-stratification",
        ),
    ]
