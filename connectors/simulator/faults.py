"""Faults injected into a simulated line: the textbook kinds, their text form, ground truth.

A :class:`FaultSim` is one out-of-control pattern on one characteristic or parameter in
a time window. On the command line and in the config a fault is text
(:func:`parse_fault`, :func:`format_fault`); :func:`validate_faults` checks that each
target is on the line, and :func:`fault_windows` is the ground truth that the report
scores detection against.

>>> from linewatch.connectors.simulator import welding_line
>>> fault = parse_fault("trend:weld-2/welder-07/tip_temp_c@14h+90m*4")
>>> validate_faults(welding_line(), [fault])
>>> fault_windows([fault], datetime(2026, 11, 2, 6, 0, tzinfo=UTC))[0]["end"]
'2026-11-02T21:30:00+00:00'
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar

import numpy as np
from pydantic import BeforeValidator, ConfigDict, Field

from linewatch.connectors.simulator.specs import (
    SPEC_CONFIG,
    VALUE_MAX,
    LineSim,
    check_bounds,
)

__all__ = [
    "FAULT_KINDS",
    "FAULT_MINUTES_MAX",
    "FaultSim",
    "FaultText",
    "as_utc",
    "fault_windows",
    "format_fault",
    "parse_fault",
    "validate_faults",
    "welding_faults",
]

#: The out-of-control patterns of the SPC textbooks (Western Electric handbook, Montgomery).
FAULT_KINDS = ("shift", "trend", "variance", "cycle", "mixture", "stratification")

#: Fault times stop here (about 1,900 years): timedelta holds ~1.4e12 minutes, so a start
#: plus a duration never overflows the ground truth's timestamps.
FAULT_MINUTES_MAX = 1e9

_US_PER_MIN = 60 * 1_000_000

Minutes = Annotated[float, Field(ge=0.0, le=FAULT_MINUTES_MAX)]
PositiveMinutes = Annotated[float, Field(gt=0.0, le=FAULT_MINUTES_MAX)]
Magnitude = Annotated[float, Field(ge=-VALUE_MAX, le=VALUE_MAX)]


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

    __pydantic_config__: ClassVar[ConfigDict] = SPEC_CONFIG

    kind: str
    target: str
    start_min: Minutes
    duration_min: PositiveMinutes
    magnitude: Magnitude = 1.5
    period_min: PositiveMinutes = 10.0
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
        if not math.isfinite(self.magnitude):
            raise ValueError(f"{what}: magnitude must be a finite number, got {self.magnitude!r}")
        if self.kind in ("variance", "stratification") and self.magnitude <= 0:
            raise ValueError(
                f"{what}: magnitude of a {self.kind} fault is an sd factor and must be "
                f"positive, got {self.magnitude}"
            )
        check_bounds(self, what)

    @property
    def end_min(self) -> float:
        """When the fault stops, in minutes after the simulation start."""
        return self.start_min + self.duration_min

    @property
    def label(self) -> str:
        """``name`` if given, else the fault's :func:`format_fault` text."""
        return self.name or format_fault(self)


# -- faults as text -------------------------------------------------------------------------


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


def _fault_from_text(value: Any) -> Any:
    """A config's fault text as a :class:`FaultSim` (a FaultSim is taken as it is)."""
    if isinstance(value, str):
        return parse_fault(value)
    if isinstance(value, FaultSim):
        return value
    raise ValueError("a fault is text like 'shift:weld-2/nugget_dia_mm@2h+30m*1.5'")


#: A fault as a config writes it, its :func:`parse_fault` text, validated into a FaultSim.
FaultText = Annotated[FaultSim, BeforeValidator(_fault_from_text)]


# -- faults on a line, and the ground truth ------------------------------------------------


def validate_faults(line: LineSim, faults: Sequence[FaultSim]) -> None:
    """Raise ValueError naming the fault and its target when the target is not on ``line``.

    >>> from linewatch.connectors.simulator import welding_line
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
    origin = as_utc(start)
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


def as_utc(start: datetime) -> datetime:
    """``start`` in UTC; ValueError for a naive datetime (the simulation clock is absolute).

    >>> as_utc(datetime(2026, 11, 2, 6, 0))
    Traceback (most recent call last):
    ValueError: start must be timezone-aware, got naive 2026-11-02T06:00:00
    """
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError(f"start must be timezone-aware, got naive {start.isoformat()}")
    return start.astimezone(UTC)


# -- the default faults ----------------------------------------------------------------------


def welding_faults() -> list[FaultSim]:
    """One fault of every kind on :func:`~.specs.welding_line` over a 3-day run, hours apart.

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
