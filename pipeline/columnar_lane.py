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

import bisect
import dataclasses
import logging
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, overload
from zoneinfo import ZoneInfo

import msgspec
import numpy as np

from linewatch.detectors.base import MAX_MAGNITUDE, Evaluation
from linewatch.detectors.registry import chart_info
from linewatch.detectors.spc.imr import IMRChart
from linewatch.pipeline.alert_limits import limits_window
from linewatch.pipeline.alerts import AlertManager, StreamIdentity
from linewatch.pipeline.assembly import Stream, StreamStats, new_stream
from linewatch.pipeline.config import CharacteristicConfig, ParameterConfig
from linewatch.pipeline.guards import CLOCK_RECORDS, REFERENCE_VALUES, EventClock, ValueGuard
from linewatch.pipeline.models import Alert, Measurement, Output, Parameter, WireRecord
from linewatch.pipeline.spec_alerts import SPEC_CHART

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

#: The zone pyarrow gives a ``timestamp("us", tz="UTC")`` cell: a laned record's times are
#: the very datetimes the per-record path decodes.
UTC_ZONE = ZoneInfo("UTC")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC_ZONE)
_IMR_CHARTS = ("individuals", "moving_range")
_NAME = re.compile(r"^[^/\s]+$")  # the wire's ``Name`` (pipeline/models.py)

#: An output with the batch row that caused it and its phase inside that record.
Tagged = tuple[int, int, Output]


def valid_name(text: str) -> bool:
    """Whether ``text`` is a valid line/station/stream id on the wire."""
    return 1 <= len(text) <= 200 and _NAME.search(text) is not None


class Stamps(Sequence[datetime]):
    """Event times (UTC microseconds) as datetimes, built only when one is read."""

    __slots__ = ("micros",)

    def __init__(self, micros: np.ndarray) -> None:
        self.micros = micros

    def __len__(self) -> int:
        return int(self.micros.size)

    @overload
    def __getitem__(self, i: int) -> datetime: ...

    @overload
    def __getitem__(self, i: slice) -> Stamps: ...

    def __getitem__(self, i: int | slice) -> datetime | Stamps:
        if isinstance(i, slice):
            return Stamps(self.micros[i])
        return _EPOCH + timedelta(microseconds=int(self.micros[i]))

    def __iter__(self) -> Iterator[datetime]:
        epoch, delta = _EPOCH, timedelta
        return (epoch + delta(microseconds=m) for m in self.micros.tolist())


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
    engine: Engine, columns: KeyColumns, saved: Mapping[str, Any] | None = None
) -> list[Tagged] | None:
    """The tagged outputs of one key's records (see the module), or ``None``: take them
    record by record. Nothing changes when it returns ``None``. ``saved``: the key's
    :meth:`Engine.snapshot_key` as it is now, if the caller has it (else one is taken)."""
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
    if saved is None:
        saved = engine.snapshot_key(key)
    saved_stats = [(p.stream, _copy_stats(p.stream.stats)) for p in plans if not p.new]
    unbuilt = engine.points_not_built
    try:
        tagged = _commit(engine, columns, plans)
    except Exception as exc:  # a chart refused something after all: nothing happened
        log.warning("%s: columnar lane fell back to the per-record path (%r)", key, exc)
        engine.restore_key(key, saved)
        for stream, stats in saved_stats:
            stream.stats = stats
        engine.points_not_built = unbuilt
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
            first = _EPOCH + timedelta(microseconds=int(columns.micros[positions[0]]))
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
        stamps = Stamps(micros)
        _chart(engine, stream, stamps, values, rows, tagged)
        if stream.capability is not None:
            for j, value in enumerate(values.tolist()):
                for out in engine._capability(stream, stamps[j], value):
                    tagged.append((rows[j], 1, out))
        _spec(engine, stream, stamps, values, rows, tagged)
        if plan.guard is not None:
            stream.guard = plan.guard
    return tagged


def _chart(
    engine: Engine,
    stream: Stream,
    stamps: Stamps,
    values: np.ndarray,
    rows: list[int],
    tagged: list[Tagged],
) -> None:
    detector = stream.detector
    assert isinstance(detector, IMRChart)
    stats = stream.stats
    identity = stream.identity
    build = engine.points_wanted or (identity.line, identity.station) in engine._point_stations
    columns = detector.update_batch(stamps, values)
    stats.observations += len(stamps)
    if stats.first_ts is None:
        stats.first_ts = stamps[0]
    stats.last_ts = stamps[len(stamps) - 1]
    head = columns.head
    for j, evaluation in enumerate(head):
        for out in engine._outputs(stream, evaluation):
            tagged.append((rows[j], 0, out))
    h, m = len(head), int(columns.values.size)
    if not m:
        return
    if build:
        for j, evaluation in enumerate(columns.evaluations(), start=h):
            for out in engine._outputs(stream, evaluation):
                tagged.append((rows[j], 0, out))
        return
    first = columns[h]
    stream.limits = limits_window(detector, first.points, stream.limits)
    plotted = 2 * m - (1 if columns.first_alone else 0)
    stats.points += plotted
    engine.points_not_built += plotted
    if not stats.main_chart:
        stats.main_chart = first.points[0].chart
    plan = columns.plans[0]
    if stats.main_chart == "individuals":
        stats.center, stats.lcl, stats.ucl = plan[1], plan[4], plan[5]
    signalled = columns.signalled().tolist()
    alerts = engine.alerts
    clean_needed = (
        getattr(stream.spec, "resolve_after_points", None) or alerts.config.resolve_after_points
    )
    j = 0
    while j < m:
        at = bisect.bisect_left(signalled, j)
        upcoming = signalled[at] if at < len(signalled) else m
        if j < upcoming and not (j == 0 and columns.first_alone):
            # No signal until ``upcoming``: only firing alerts count clean points there.
            for offset, out in _clean_stretch(alerts, identity, upcoming - j, clean_needed):
                tagged.append((rows[h + j + offset], 0, _stamped(out, stamps[h + j + offset])))
            j = upcoming
            continue
        for out in _alerts(engine, stream, columns[h + j]):
            tagged.append((rows[h + j], 0, out))
        j += 1


def _clean_stretch(
    manager: AlertManager, identity: StreamIdentity, length: int, clean_needed: int
) -> list[tuple[int, Alert]]:
    """``AlertManager.observe`` over ``length`` I-MR evaluations without a signal, at once:
    each alert firing on either chart counts them as clean points, and resolves at the
    one that makes ``clean_needed`` (its ``ts`` set by the caller). In the order
    ``observe`` emits them: by point, individuals before moving range, by fingerprint."""
    resolved: list[tuple[int, int, str, Alert]] = []
    for order, chart in enumerate(_IMR_CHARTS):
        key = (identity.line, identity.station, identity.characteristic, chart)
        for fingerprint in sorted(manager._on_chart.get(key, ())):
            firing = manager._firing[fingerprint]
            offset = max(clean_needed - firing.clean_points, 1) - 1
            if offset < length:
                manager._remove(fingerprint)
                resolved.append((offset, order, fingerprint, firing.alert))
            else:
                firing.clean_points += length
    resolved.sort(key=lambda item: item[:3])
    return [(offset, alert) for offset, _, _, alert in resolved]


def _stamped(alert: Alert, ts: datetime) -> Alert:
    return msgspec.structs.replace(alert, status="resolved", ts=ts, ends_at=ts)


def _alerts(engine: Engine, stream: Stream, evaluation: Evaluation) -> list[Output]:
    """The alert part of ``Engine._outputs`` (its point part is counted in bulk)."""
    stats = stream.stats
    signals = evaluation.signals
    for signal in signals:
        stats.signals[signal.rule] += 1
        if stats.first_signal_ts is None:
            stats.first_signal_ts = signal.ts
    spec = stream.spec
    return list(
        engine.alerts.observe(
            stream.identity,
            evaluation.points,
            signals,
            getattr(spec, "severity", None),
            resolve_after=getattr(spec, "resolve_after_points", None),
            limits=stream.limits,
        )
    )


def _spec(
    engine: Engine,
    stream: Stream,
    stamps: Stamps,
    values: np.ndarray,
    rows: list[int],
    tagged: list[Tagged],
) -> None:
    lsl = getattr(stream.spec, "lsl", None)
    usl = getattr(stream.spec, "usl", None)
    if lsl is None and usl is None:
        return
    out_of_spec = np.zeros(values.size, dtype=bool)
    if usl is not None:
        out_of_spec |= values > usl
    if lsl is not None:
        out_of_spec |= values < lsl
    outside = np.flatnonzero(out_of_spec).tolist()
    identity, alerts = stream.identity, engine.alerts
    j, n = 0, int(values.size)
    while j < n:
        if not alerts.watches(identity, SPEC_CHART):  # in spec and nothing firing: no-op
            at = bisect.bisect_left(outside, j)
            if at == len(outside):
                break
            j = outside[at]
        for out in engine._spec(stream, stamps[j], float(values[j])):
            tagged.append((rows[j], 2, out))
        j += 1


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
