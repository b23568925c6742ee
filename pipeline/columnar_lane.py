"""The columnar lane: many records of one ``line/station`` through the engine at once.

:func:`lane_key` takes one key's records of a batch as columns (event times in UTC
microseconds, stream names, values; arrival order) and gives exactly the outputs and the
final state that :meth:`Engine.process` gives record by record, or ``None`` when it cannot
*prove* that no record would be refused; the caller then takes the per-record path for
those records. What must hold (checked with numpy, before anything changes):

* every stream is unconfigured (its records are counted and move the clock, as one by
  one) or configured, charted ``imr`` (subgroup size 1, an ``update_batch``), fed
  by no multivariate group, on a station without models, with no ``limits.effective_from``
  after the first record;
* the key's clock accepts every record: times non-decreasing (also against the clock's
  recent ones), each within ``allowed_future_s`` of the median the clock would have then;
* every value passes its stream's value guard (replayed exactly while the guard is still
  establishing its process) and ``|value| <= 1e100``.

Then each stream's chart judges its values at once (``IMRChart.update_batch``, bit for
bit the per-sample path); only the evaluations that signal, or that may resolve a firing
alert, are built and handed to the same :class:`AlertManager` calls; chart points are
built only if some route takes them. Spec alerts and capability KPIs are judged as the
per-record path does. Each output is tagged ``(row, phase)`` (phase 0 chart, 1 capability,
2 spec: the per-record order inside one record), so sorting the tags gives the per-record
order across streams too. A detector that raises part-way restores the key and returns
``None``.

>>> import numpy as np
>>> from linewatch.pipeline.config import Config
>>> from linewatch.pipeline.engine import Engine
>>> config = Config.model_validate({"version": 1, "lines": [{"name": "L1", "stations": [
...     {"name": "s1", "characteristics": [{"name": "d", "chart": "imr",
...      "rules": "nelson", "limits": {"center": 0.0, "sigma": 1.0}}]}]}]})
>>> engine = Engine(config)
>>> engine.points_wanted = False  # no sink takes chart points: they are counted, not built
>>> micros = 1_764_000_000_000_000 + np.arange(6) * 1_000_000
>>> result = engine.observe_columns("L1", "s1", "d", micros, np.array([0.1, -0.2, 3.5, 0.0, 0.1, 0.2]))
>>> result.laned, result.refused
(True, [])
>>> [(a.chart, a.rule, a.status, a.value) for a in result.outputs]
[('individuals', 'nelson1', 'firing', 3.5), ('moving_range', 'nelson1', 'firing', 3.7)]
>>> engine.stream_stats[0].observations, engine.points_not_built
(6, 11)
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from linewatch.detectors.base import MAX_MAGNITUDE
from linewatch.detectors.registry import chart_info
from linewatch.detectors.spc.imr import IMRChart
from linewatch.pipeline.alerts import StreamIdentity
from linewatch.pipeline.assembly import Stream, StreamStats, new_stream
from linewatch.pipeline.columnar_charts import (
    EPOCH,
    UTC_ZONE,
    Stamps,
    Tagged,
    chart_outputs,
    spec_outputs,
)
from linewatch.pipeline.config import CharacteristicConfig, ParameterConfig
from linewatch.pipeline.guards import CLOCK_RECORDS, REFERENCE_VALUES, EventClock, ValueGuard
from linewatch.pipeline.models import Measurement, Output, Parameter, WireRecord

if TYPE_CHECKING:
    from linewatch.pipeline.engine import Engine

log = logging.getLogger(__name__)

__all__ = [
    "UTC_ZONE",
    "KeyColumns",
    "LaneResult",
    "Stamps",
    "Tagged",
    "lane_key",
    "lane_takes",
    "observe_columns",
    "valid_name",
]

_NAME = re.compile(r"^[^/\s]+$")  # the wire's ``Name`` (pipeline/models.py)


def valid_name(text: str) -> bool:
    """Whether ``text`` is a valid line/station/stream id on the wire."""
    return 1 <= len(text) <= 200 and _NAME.search(text) is not None


@dataclass(slots=True)
class KeyColumns:
    """One ``line/station``'s records of a batch, in arrival order.

    ``stream[i]`` indexes ``names`` (a characteristic, or ``equipment/name`` for the
    parameters) and ``kinds`` (``measurement`` or ``parameter``); ``rows[i]`` is the
    record's position in the batch, for the order of the outputs.
    """

    line: str
    station: str
    micros: np.ndarray
    stream: np.ndarray
    names: list[str]
    kinds: list[str]
    values: np.ndarray
    rows: np.ndarray
    #: 1970-01-01 in the zone of the records' times (see :class:`Stamps`).
    epoch: datetime = EPOCH


@dataclass(slots=True)
class LaneResult:
    """What :func:`observe_columns` did: the outputs in per-record order, the records
    refused (index, reason, as the dead letters say it), and whether the lane took them."""

    outputs: list[Output] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)
    laned: bool = False


@dataclass(slots=True)
class _Plan:
    """One stream's part of a key's records, checked and ready to commit."""

    stream: Stream
    new: bool
    positions: np.ndarray  # into the key's columns
    guard: ValueGuard | None  # the guard as it ends (a copy), if the stream has one


def observe_columns(
    engine: Engine,
    line: str,
    station: str,
    name: str,
    ts: np.ndarray,
    values: np.ndarray,
    kind: str = "measurement",
) -> LaneResult:
    """:meth:`Engine.observe_columns`: one stream's records, laned when provably safe,
    else record by record (the refused ones reported with their index)."""
    micros = _as_micros(ts)
    values = np.ascontiguousarray(values, dtype=np.float64)
    if micros.shape != values.shape or micros.ndim != 1:
        raise ValueError(f"{micros.size} timestamps for {values.size} values")
    n = int(values.size)
    columns = KeyColumns(
        line,
        station,
        micros,
        np.zeros(n, dtype=np.intp),
        [name],
        [kind],
        values,
        np.arange(n),
    )
    tagged = lane_key(engine, columns)
    if tagged is not None:
        tagged.sort(key=_row_phase)
        return LaneResult([out for _, _, out in tagged], [], True)
    from linewatch.pipeline.engine import RecordRejected

    result = LaneResult()
    stamps = Stamps(micros)
    for i, value in enumerate(values.tolist()):
        record = _record(kind, stamps[i], line, station, name, value)
        try:
            result.outputs += engine.process(record)
        except RecordRejected as exc:
            result.refused.append((i, str(exc)))
    return result


def lane_key(
    engine: Engine,
    columns: KeyColumns,
    saved: Mapping[str, Any] | None = None,
    restore: Callable[[], None] | None = None,
) -> list[Tagged] | None:
    """The tagged outputs of one key's records (see the module), or ``None``: take them
    record by record. Nothing changes when it returns ``None``. If a chart raises part-way
    the key is put back: by ``restore()`` if given (the runner rebuilds it from its last
    base and the records since), else from ``saved``, the key's :meth:`Engine.snapshot_key`
    as it is now (taken here if not given)."""
    n = int(columns.values.size)
    if not n:
        return []
    key = f"{columns.line}/{columns.station}"
    seconds = columns.micros.astype(np.float64) / 1e6  # == datetime.timestamp(), exactly
    clock = _clock_after(engine, key, seconds)
    if clock is None:
        return None
    values = columns.values
    if not (np.abs(values) <= MAX_MAGNITUDE).all():  # NaN fails too
        return None
    unconfigured: dict[str, int] = {}
    plans = _plans(engine, columns, unconfigured)
    if plans is None:
        return None
    if saved is None and restore is None:
        saved = engine.snapshot_key(key)
    saved_stats = [(p.stream, _copy_stats(p.stream.stats)) for p in plans if not p.new]
    unbuilt = engine.points_not_built
    try:
        tagged = _commit(engine, columns, plans)
    except Exception as exc:  # a chart refused something after all: nothing happened
        log.warning("%s: columnar lane fell back to the per-record path (%r)", key, exc)
        engine.points_not_built = unbuilt
        if restore is not None:
            for stream, stats in saved_stats:  # a rebuild keeps each stream's stats
                stream.stats = stats
            restore()
        else:
            assert saved is not None
            engine.restore_key(key, saved)  # new stream objects: their stats set by name
            for stream, stats in saved_stats:
                identity = stream.identity
                restored = engine._streams.get(
                    (identity.line, identity.station, identity.characteristic)
                )
                if restored is not None:
                    restored.stats = stats
        return None
    engine._clocks[key] = clock
    for name, many in unconfigured.items():
        engine.unconfigured[f"{key}/{name}"] += many
    counts = engine.records_by_kind
    kinds = columns.kinds
    for index, many in enumerate(np.bincount(columns.stream, minlength=len(kinds)).tolist()):
        if many:
            counts[kinds[index]] += many
    return tagged


# -- checks ------------------------------------------------------------------------------


def _clock_after(engine: Engine, key: str, seconds: np.ndarray) -> EventClock | None:
    """The key's clock after accepting every record, or ``None`` unless provably all are."""
    clock = engine._clocks.get(key)
    recent = [] if clock is None else list(clock.recent)
    if clock is not None and not (clock.in_order and recent):
        return None
    combined = np.concatenate([np.asarray(recent, dtype=np.float64), seconds])
    if combined.size > 1 and not (combined[1:] >= combined[:-1]).all():
        return None
    # Before the record at position k of ``combined`` the reference is the middle of the
    # k (at most CLOCK_RECORDS) accepted times before it; k = 0 has no clock yet.
    k = np.arange(len(recent), combined.size)
    checked = k > 0
    k = k[checked]
    width = np.minimum(k, CLOCK_RECORDS)
    reference = combined[k - width + width // 2]
    at = seconds[checked]
    if (at > reference + engine._future_s).any() or (reference - at > engine._lateness_s).any():
        return None
    after = EventClock()
    after.recent.extend(combined[-CLOCK_RECORDS:].tolist())
    after.reference = after.recent[len(after.recent) // 2]
    return after


def lane_takes(engine: Engine, columns: KeyColumns) -> bool:
    """Whether the configuration lets the lane take this key's streams at all (a station
    without models, every stream unconfigured or an ``imr`` chart of single values fed
    by no multivariate group). Records of such a key change nothing outside the key."""
    line, station = columns.line, columns.station
    if (line, station) in engine._point_stations:  # models read their records
        return False
    for name, kind in zip(columns.names, columns.kinds, strict=True):
        if engine._groups_of.get((line, station, name)):
            return False
        spec = engine._specs.get((line, station, name))
        if spec is None:
            continue
        wanted = CharacteristicConfig if kind == "measurement" else ParameterConfig
        if not isinstance(spec, wanted) or spec.chart != "imr" or spec.subgroup_size != 1:
            return False
    return True


def _plans(engine: Engine, columns: KeyColumns, unconfigured: dict[str, int]) -> list[_Plan] | None:
    line, station = columns.line, columns.station
    if (line, station) in engine._point_stations:  # models read their records
        return None
    order = np.argsort(columns.stream, kind="stable")
    counts = np.bincount(columns.stream, minlength=len(columns.names))
    bounds = np.concatenate([[0], np.cumsum(counts)])
    firsts: list[tuple[int, int]] = []
    for index in np.flatnonzero(counts).tolist():
        firsts.append((int(order[bounds[index]]), index))
    plans: list[_Plan] = []
    for _, index in sorted(firsts):  # streams are made in the order their first record came
        name, kind = columns.names[index], columns.kinds[index]
        spec = engine._specs.get((line, station, name))
        positions = order[bounds[index] : bounds[index + 1]]
        if spec is None and not engine._groups_of.get((line, station, name)):
            unconfigured[name] = int(positions.size)  # counted; they move only the clock
            continue
        wanted = CharacteristicConfig if kind == "measurement" else ParameterConfig
        if not isinstance(spec, wanted) or kind not in ("measurement", "parameter"):
            return None
        if kind == "parameter" and engine._groups_of.get((line, station, name)):
            return None
        if chart_info(spec.chart).takes != "value" or spec.subgroup_size != 1:
            return None
        limits = getattr(spec, "limits", None)
        if limits is not None and limits.effective_from is not None:
            first = columns.epoch + timedelta(microseconds=int(columns.micros[positions[0]]))
            if first < limits.effective_from:
                return None
        stream = engine._streams.get((line, station, name))
        new = stream is None
        if stream is None:
            stream = new_stream(StreamIdentity(line, station, name), spec)
        if not isinstance(stream.detector, IMRChart):
            return None
        guard = _guard_after(stream.guard, columns.values[positions])
        if guard is False:
            return None
        plans.append(_Plan(stream, new, positions, guard if guard is not True else None))
    return plans


def _guard_after(guard: ValueGuard | None, values: np.ndarray) -> ValueGuard | bool | None:
    """A copy of ``guard`` after accepting ``values``; ``False`` if one would be refused."""
    if guard is None:
        return None
    after = ValueGuard(guard.plausible, guard.sigmas)
    after.center, after.sigma, after.low, after.high = (
        guard.center,
        guard.sigma,
        guard.low,
        guard.high,
    )
    after.sample = None if guard.sample is None else list(guard.sample)
    start = 0
    if after.sample is not None:  # still establishing its process: one by one, exactly
        head = values[: REFERENCE_VALUES - len(after.sample)].tolist()
        for value in head:
            if after.check(value) is not None:
                return False
            after.commit(value)
        start = len(head)
    rest = values[start:]
    if rest.size and not ((after.low <= rest) & (rest <= after.high)).all():
        return False
    if after.sample is not None:
        after.sample += rest.tolist()
    return after


# -- commit ------------------------------------------------------------------------------


def _commit(engine: Engine, columns: KeyColumns, plans: list[_Plan]) -> list[Tagged]:
    tagged: list[Tagged] = []
    for plan in plans:
        stream = plan.stream
        if plan.new:
            key = (columns.line, columns.station, stream.identity.characteristic)
            engine._streams[key] = stream
            if engine.on_new_stream is not None:
                engine.on_new_stream(stream)
        rows = columns.rows[plan.positions].tolist()
        micros = columns.micros[plan.positions]
        values = columns.values[plan.positions]
        stamps = Stamps(micros, columns.epoch)
        chart_outputs(engine, stream, stamps, values, rows, tagged)
        if stream.capability is not None:
            for j, value in enumerate(values.tolist()):
                for out in engine._capability(stream, stamps[j], value):
                    tagged.append((rows[j], 1, out))
        spec_outputs(engine, stream, stamps, values, rows, tagged)
        if plan.guard is not None:
            stream.guard = plan.guard
    return tagged


# -- helpers -----------------------------------------------------------------------------


def _row_phase(item: Tagged) -> tuple[int, int]:
    return item[0], item[1]


def _copy_stats(stats: StreamStats) -> StreamStats:
    return dataclasses.replace(stats, signals=Counter(stats.signals))


def _as_micros(ts: np.ndarray) -> np.ndarray:
    array = np.asarray(ts)
    if array.dtype.kind == "M":
        return array.astype("datetime64[us]").astype(np.int64)
    if array.dtype.kind == "f":  # POSIX seconds, to the microsecond
        return np.rint(array * 1e6).astype(np.int64)
    return array.astype(np.int64)


def _record(
    kind: str, ts: datetime, line: str, station: str, name: str, value: float
) -> WireRecord:
    if kind == "parameter":
        equipment, _, parameter = name.partition("/")
        return Parameter(
            ts=ts, line=line, station=station, equipment=equipment, name=parameter, value=value
        )
    return Measurement(ts=ts, line=line, station=station, characteristic=name, value=value)
