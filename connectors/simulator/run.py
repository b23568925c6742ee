"""The simulation: wire records of a line, with known faults injected, deterministic per seed.

A :class:`~.specs.LineSim` describes stations; one part enters every ``cycle_s`` seconds
and visits the stations in order, ``station_gap_s`` apart. At each station the part gets
one reading per equipment :class:`~.specs.ParameterSim` (an AR(1) process), one
measurement per :class:`~.specs.CharacteristicSim` and, at an inspecting station, one
:class:`~linewatch.pipeline.models.Inspection` whose defects come from
:class:`~.specs.DefectSim` rates that a parameter can drive. :class:`~.faults.FaultSim`
injects the textbook out-of-control patterns at known times, so tests and demos have a
ground truth (:func:`~.faults.fault_windows`). :class:`Simulation` is a line with its
faults, seed and start: the config's ``simulation:`` section.

Each characteristic, parameter, defect, fault and the part timing draws from its own
PCG64 stream keyed by its name and the seed: adding a fault or a station never changes
the noise of anything else.

>>> from datetime import timezone
>>> from linewatch.connectors.simulator import welding_line
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
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import numpy as np
from numpy.random import PCG64, Generator, SeedSequence
from pydantic import AwareDatetime, Field

from linewatch.connectors.simulator.faults import FaultSim, FaultText, as_utc, validate_faults
from linewatch.connectors.simulator.specs import MAX_DRIVEN_RATE, DefectSim, LineSim, StationSim
from linewatch.pipeline.models import Attribute, Inspection, Measurement, Parameter, WireRecord

__all__ = ["SEED_MAX", "Simulation", "simulate"]

SEED_MAX = 2**63 - 1

_US_PER_S = 1_000_000
_US_PER_MIN = 60 * _US_PER_S
# Variates are drawn this many at a time: one numpy call per block instead of per value.
# It is a constant, so the values never depend on it.
_BLOCK = 1024

Seed = Annotated[int, Field(ge=0, le=SEED_MAX)]
_DEFAULT_START = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Simulation(LineSim):
    """A line to simulate, with its ``faults``, ``seed`` and ``start``: the config's
    ``simulation:`` section, where each fault is its :func:`~.faults.parse_fault` text.

    Every fault target must be on the line. :meth:`records` runs it.

    >>> from pydantic import TypeAdapter
    >>> spec = TypeAdapter(Simulation).validate_python({
    ...     "line": "L1", "seed": 3, "faults": ["shift:s1/d@1m+1m*2"],
    ...     "stations": [{"name": "s1", "characteristics": [
    ...         {"name": "d", "mean": 1.0, "sigma": 0.1}]}]})
    >>> spec.faults[0].magnitude, spec.start.isoformat()
    (2.0, '2026-11-02T06:00:00+00:00')
    >>> [round(r.value, 3) for r in spec.records(minutes=2)]  # shifted by 2 sigma in minute 2
    [1.001, 0.992, 1.228, 1.12]
    >>> Simulation("L1", spec.stations, faults=(FaultSim("shift", "s1/x", 1, 1),))
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: fault 'shift:s1/x@1m+1m*1.5': target 's1/x' is not a characteristic ...
    """

    faults: tuple[FaultText, ...] = ()
    seed: Seed = 0
    start: AwareDatetime = _DEFAULT_START

    def __post_init__(self) -> None:
        LineSim.__post_init__(self)  # zero-argument super() fails in a slotted dataclass
        object.__setattr__(self, "faults", tuple(self.faults))
        if not 0 <= self.seed <= SEED_MAX:
            raise ValueError(f"line {self.line!r}: seed must be in [0, 2**63), got {self.seed}")
        as_utc(self.start)
        validate_faults(self, self.faults)

    def records(self, minutes: float) -> Iterator[WireRecord]:
        """:func:`simulate` of this line with its faults, seed and start."""
        return simulate(self, self.start, minutes, self.faults, self.seed)


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
    >>> from linewatch.connectors.simulator import welding_line
    >>> start = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
    >>> endless = simulate(welding_line(), start, math.inf)
    >>> [r.ts.isoformat() for r in islice(endless, 0, 16, 4)]  # doctest: +ELLIPSIS
    ['2026-11-02T06:00:00.8...+00:00', '2026-11-02T06:00:05.8...+00:00', ...]
    """
    origin = as_utc(start)
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
