"""Routes decoded records to per-stream detector state and turns results into outputs.

A *stream* is one charted quantity: a characteristic of a station (``L3/weld-2``,
``nugget_dia_mm``) or an equipment parameter (``welder-07/tip_temp_c``). Its detector
state lives here, keyed by ``(line, station, characteristic)``, and nowhere else.

Late and out-of-order records follow one documented rule: records are processed in the
order they arrive, never reordered. A record older than its line/station's event-time
reference (the median of its last accepted timestamps) by more than
``lateness.allowed_lateness_s``, or ahead of it by more than ``lateness.allowed_future_s``,
is refused (a :class:`RecordRejected`, which the runner sends to the dead letters with the
reason); so is an implausible value (see :mod:`linewatch.pipeline.guards`).

A record changes the key's clock and the stream's value guard only once it went through
whole: a refused record moves no watermark. If processing a record raises anything else
(a bug), the runner rebuilds that key's state with :meth:`Engine.rebuild_key`.
"""

from __future__ import annotations

import contextlib
import functools
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from linewatch.detectors.base import (
    DetectorInputError,
    Evaluation,
    Observation,
    PlotPoint,
    finite,
)
from linewatch.detectors.registry import chart_info
from linewatch.pipeline.alert_limits import limits_window
from linewatch.pipeline.alerts import AlertManager, LimitsWindow, StreamIdentity
from linewatch.pipeline.assembly import (
    Spec,
    Stream,
    StreamStats,
    add_to_subgroup,
    add_to_vector,
    close_short_subgroup,
    new_stream,
)
from linewatch.pipeline.columnar_lane import LaneResult, observe_columns
from linewatch.pipeline.config import Config, ConfigError, StationConfig
from linewatch.pipeline.guards import EventClock, ValueGuard
from linewatch.pipeline.kpis import (
    DEFAULT_KPI_EVERY_S,
    DEFAULT_KPI_WINDOW_S,
    KpiWindow,
    capability_kpis,
    inspection_kpis,
    plain_float,
)
from linewatch.pipeline.modelling import ModelRuntime
from linewatch.pipeline.models import (
    Attribute,
    ChartPoint,
    Inspection,
    Measurement,
    Output,
    Parameter,
    WireRecord,
)
from linewatch.pipeline.spec_alerts import spec_alerts
from linewatch.pipeline.state_codec import (
    decode_clock,
    decode_kpi_window,
    decode_stream,
    encode_kpi_window,
    encode_stream,
)

__all__ = ["Engine", "RecordRejected", "StreamStats"]


class RecordRejected(ValueError):
    """A valid record the engine cannot use (late, or a detector refused its value)."""


class Engine:
    """Per-stream detectors, KPI windows and the alert manager of one job."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.alerts = AlertManager(config.alerting)
        self._specs: dict[tuple[str, str, str], Spec] = {}
        self._stations: dict[tuple[str, str], StationConfig] = {}
        # (line, station, equipment/name) -> the multivariate groups that parameter feeds
        self._groups_of: dict[tuple[str, str, str], list[str]] = {}
        paths: dict[tuple[str, str, str], str] = {}
        for i, line in enumerate(config.lines):
            for j, station in enumerate(line.stations):
                at = f"lines[{i}].stations[{j}]"
                self._stations[(line.name, station.name)] = station
                for k, characteristic in enumerate(station.characteristics):
                    key = (line.name, station.name, characteristic.name)
                    self._specs[key], paths[key] = characteristic, f"{at}.characteristics[{k}]"
                for k, parameter in enumerate(station.parameters):
                    key = (line.name, station.name, f"{parameter.equipment}/{parameter.name}")
                    self._specs[key], paths[key] = parameter, f"{at}.parameters[{k}]"
                for k, group in enumerate(station.multivariate):
                    key = (line.name, station.name, group.name)
                    self._specs[key], paths[key] = group, f"{at}.multivariate[{k}]"
                    for member in group.parameters:
                        self._groups_of.setdefault((line.name, station.name, member), []).append(
                            group.name
                        )
        # Detectors are built when a stream's first record arrives; build each once now so
        # that a setting the chart refuses fails at start, naming its path.
        problems = []
        for key, spec in self._specs.items():
            try:
                new_stream(StreamIdentity(*key), spec)
            except (ValueError, DetectorInputError) as exc:
                problems.append(f"{paths[key]}: {exc}")
        if problems:
            raise ConfigError(problems)
        self.models = ModelRuntime(config, self.alerts)  # the stations' models: modelling.py
        self._streams: dict[tuple[str, str, str], Stream] = {}
        self._kpi_windows: dict[tuple[str, str], KpiWindow] = {}
        self._clocks: dict[str, EventClock] = {}
        self._lateness_s = config.lateness.allowed_lateness_s
        self._future_s = config.lateness.allowed_future_s
        self._reanchor_after = config.lateness.reanchor_after
        self.records_by_kind: Counter[str] = Counter()
        self.unconfigured: Counter[str] = Counter()
        self.defect_codes: Counter[str] = Counter()
        self.before_limits: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.refused_reasons: dict[str, str] = {}
        self.incomplete_vectors: Counter[str] = Counter()
        self._guarded: tuple[ValueGuard, float] | None = None  # of the record in process
        #: Called with each stream the engine builds for a first record (limits seeding:
        #: :mod:`linewatch.pipeline.limits_seed`); a restored stream keeps its saved state.
        self.on_new_stream: Callable[[Stream], None] | None = None
        #: Whether chart points are built for every stream: the runner clears it when no
        #: sink route takes ``points``. Stations with models still get theirs (a forecast
        #: reads its chart's points); the others' points are only counted.
        self.points_wanted = True
        self.points_not_built = 0
        self._point_stations = {
            (line.name, station.name)
            for line in config.lines
            for station in line.stations
            if station.models
        }

    # -- processing --------------------------------------------------------------------

    def process(self, record: WireRecord) -> list[Output]:
        """Outputs (chart points, alerts, KPIs) caused by one record, in order."""
        ts = record.ts.timestamp()
        clock = self._clocks.get(record.stream_key)
        reanchor = False if clock is None else self._check_time(record, ts, clock)
        self._guarded = None
        outputs = self._dispatch(record)  # a value guard refuses before any update
        outputs += self.models.observe(record, outputs)
        # The record went through whole: only now does it count for the clock and guard.
        if clock is None:
            clock = self._clocks[record.stream_key] = EventClock()
        clock.commit(ts, reanchor)
        guarded = self._take_guarded()
        if guarded is not None:
            guarded[0].commit(guarded[1])
        self.records_by_kind[type(record).__name__.lower()] += 1
        return outputs

    def observe_columns(
        self,
        line: str,
        station: str,
        name: str,
        ts: Any,
        values: Any,
        kind: Literal["measurement", "parameter"] = "measurement",
    ) -> LaneResult:
        """One stream's records as columns (ts: int64 UTC microseconds or float seconds;
        values: float64; arrival order): the outputs and final state :meth:`process` gives
        record by record, vectorised when provably no record is refused
        (:mod:`linewatch.pipeline.columnar_lane`)."""
        return observe_columns(self, line, station, name, ts, values, kind)

    def _take_guarded(self) -> tuple[ValueGuard, float] | None:
        guarded, self._guarded = self._guarded, None
        return guarded

    def _guard(self, stream: Stream, record: WireRecord, value: float) -> None:
        """Refuse an implausible ``value`` (before the stream changes); else remember it."""
        guard = stream.guard
        why = None if guard is None else guard.check(value)
        if why is not None:
            raise RecordRejected(
                f"implausible value: `value` {value:g} of {record.stream_key}/"
                f"{stream.identity.characteristic} {why}"
            )
        try:  # beyond ±1e100 even without a guard: it must not join a pending subgroup
            finite(value)
        except DetectorInputError as exc:  # worded as the detector's own refusal
            raise RecordRejected(f"{stream.identity.characteristic}: {exc}") from exc
        if guard is not None:
            self._guarded = (guard, value)

    def _dispatch(self, record: WireRecord) -> list[Output]:
        if isinstance(record, Measurement):
            return self._measurement(record)
        if isinstance(record, Parameter):
            name = f"{record.equipment}/{record.name}"
            outputs = self._chart(record, name, record.value, None)
            for group in self._groups_of.get((record.line, record.station, name), ()):
                # The record itself is good (charted above); a vector the T² chart cannot
                # take is counted, not a reason to drop the record's own outputs.
                outputs += self._refusable(
                    record, group, functools.partial(self._vector, record, group, name)
                )
            return outputs
        if isinstance(record, Inspection):
            return self._inspect(record)
        if isinstance(record, Attribute):
            return self._attribute(record)
        raise TypeError(f"not a wire record: {record!r}")

    def _measurement(self, record: Measurement) -> list[Output]:
        stream = self._stream(record, record.characteristic)
        if stream is None:
            return []
        chart = stream.stats.chart
        takes = chart_info(chart).takes
        if takes == "counts":
            raise RecordRejected(
                f"{record.characteristic} is charted as {chart!r}, which takes "
                "attribute records (inspected, nonconforming), not measurements"
            )
        if takes == "parts":
            if record.product is None:
                raise RecordRejected(
                    f"{record.characteristic} is charted as {chart!r}, which needs "
                    "the `product` (part number) of each measurement"
                )
            self._guard(stream, record, record.value)
            x: Observation = {"value": record.value, "part": record.product}  # type: ignore[dict-item]
            outputs = self._observe(stream, record, x)
            return outputs + self._spec(stream, record.ts, record.value)
        return self._chart(record, record.characteristic, record.value, record.subgroup)

    def _attribute(self, record: Attribute) -> list[Output]:
        stream = self._stream(record, record.characteristic)
        if stream is None:
            return []
        chart = stream.stats.chart
        if chart_info(chart).takes != "counts":
            raise RecordRejected(
                f"{record.characteristic} is charted as {chart!r}, which takes "
                "measurements, not attribute records"
            )
        return self._observe(
            stream, record, {"count": record.nonconforming, "size": record.inspected}
        )

    def _vector(self, record: Parameter, group: str, name: str) -> list[Output]:
        stream = self._stream(record, group)
        if stream is None:  # pragma: no cover - groups are always configured
            return []
        part = record.part_id or record.ts.isoformat()
        values, dropped = add_to_vector(stream, part, name, record.value)
        if dropped:
            self.incomplete_vectors[f"{record.stream_key}/{group}"] += dropped
        return [] if values is None else self._observe(stream, record, values)

    def _check_time(self, record: WireRecord, ts: float, clock: EventClock) -> bool:
        """Refuses a late or future record; ``True`` if it re-anchors the key's clock."""
        reference = clock.reference
        assert reference is not None
        if ts > reference + self._future_s:
            run = clock.future_run
            if run and abs(ts - run[-1]) > self._future_s:
                run.clear()  # it does not agree with the jump before it: a new candidate
            if len(run) + 1 >= self._reanchor_after:
                return True
            run.append(ts)
            raise RecordRejected(
                f"future timestamp: ts {record.ts.isoformat()} is {ts - reference:.6g} s ahead "
                f"of the recent median of {record.stream_key} ({_iso(reference)}); allowed "
                f"future is {self._future_s:g} s ({self._reanchor_after} such records in a "
                "row re-anchor the clock)"
            )
        # No clear of ``future_run`` here: only an accepted record (``commit``) ends a
        # candidate jump, so a refused one (late, implausible) changes no clock state.
        if reference - ts > self._lateness_s:
            raise RecordRejected(
                f"late record: ts {record.ts.isoformat()} is {reference - ts:.6g} s older than "
                f"the recent median of {record.stream_key} ({_iso(reference)}); allowed "
                f"lateness is {self._lateness_s:g} s"
            )
        return False

    def _stream(self, record: WireRecord, name: str) -> Stream | None:
        key = (record.line, record.station, name)
        stream = self._streams.get(key)
        if stream is None:
            spec = self._specs.get(key)
            if spec is None:
                self.unconfigured[f"{record.stream_key}/{name}"] += 1
                return None
            stream = self._streams[key] = new_stream(
                StreamIdentity(record.line, record.station, name), spec
            )
            if self.on_new_stream is not None:
                self.on_new_stream(stream)
        return stream

    def _chart(
        self, record: WireRecord, name: str, value: float, subgroup: str | None
    ) -> list[Output]:
        stream = self._stream(record, name)
        if stream is None:
            return []
        self._guard(stream, record, value)
        outputs: list[Output] = []
        if stream.subgroup_size == 1:
            outputs = self._observe(stream, record, value)
        else:
            short = close_short_subgroup(stream, subgroup)
            if short is not None:
                # A new subgroup id closes the previous subgroup even if it is short; if the
                # chart refuses it (one value for a range), that is counted, and this
                # record, which is fine, goes on.
                closed, closed_ts = short
                outputs = self._refusable(
                    record,
                    stream.identity.characteristic,
                    lambda: self._observe(stream, record, closed, closed_ts),
                )
            full = add_to_subgroup(stream, value, subgroup, record.ts)
            if full is not None:
                outputs += self._observe(stream, record, full)
        if stream.capability is not None:
            outputs += self._capability(stream, record.ts, value)
        return outputs + self._spec(stream, record.ts, value)

    def _spec(self, stream: Stream, ts: datetime, value: float) -> list[Output]:
        """``spec`` alerts of one value against its lsl/usl (pipeline/spec_alerts.py)."""
        identity, signals = stream.identity, stream.stats.signals
        return list(spec_alerts(self.alerts, identity, stream.spec, ts, value, signals))

    def _refusable(
        self, record: WireRecord, name: str, work: Callable[[], list[Output]]
    ) -> list[Output]:
        """Outputs of ``work``; a chart's refusal of a derived observation is counted."""
        try:
            return work()
        except RecordRejected as exc:
            key = f"{record.stream_key}/{name}"
            self.refused[key] += 1
            self.refused_reasons[key] = str(exc)
            return []

    def _observe(
        self, stream: Stream, record: WireRecord, x: Observation, ts: datetime | None = None
    ) -> list[Output]:
        """Update the stream's chart with ``x``, stamped ``ts`` (default: the record's)."""
        ts = record.ts if ts is None else ts
        stats = stream.stats
        limits = getattr(stream.spec, "limits", None)
        if limits is not None and limits.effective_from and ts < limits.effective_from:
            self.before_limits[f"{record.stream_key}/{stream.identity.characteristic}"] += 1
            return []
        try:
            evaluation = stream.detector.update(ts, x)
        except DetectorInputError as exc:
            raise RecordRejected(f"{stream.identity.characteristic}: {exc}") from exc
        stats.observations += 1
        if stats.first_ts is None:
            stats.first_ts = ts
        stats.last_ts = ts
        return self._outputs(stream, evaluation)

    def _capability(self, stream: Stream, ts: datetime, value: float) -> list[Output]:
        assert stream.capability is not None
        identity = stream.identity
        try:
            evaluation = stream.capability.update(ts, value)
        except DetectorInputError as exc:
            raise RecordRejected(f"{identity.characteristic}: {exc}") from exc
        return capability_kpis(identity, getattr(stream.capability, "window", 0), evaluation)

    def _outputs(self, stream: Stream, evaluation: Evaluation) -> list[Output]:
        identity = stream.identity
        stats = stream.stats
        outputs: list[Output] = []
        points, signals = evaluation.points, evaluation.signals
        # Where the limits came from, followed even when no alert is made from these points.
        stream.limits = limits_window(stream.detector, points, stream.limits)
        build = self.points_wanted or (identity.line, identity.station) in self._point_stations
        watched = bool(signals)
        alerts = self.alerts
        for point in points:
            stats.points += 1
            if not stats.main_chart:
                stats.main_chart = point.chart
            if point.center is not None and point.chart == stats.main_chart:
                stats.center, stats.lcl, stats.ucl = point.center, point.lcl, point.ucl
            if build:
                outputs.append(_chart_point(identity, point, stream.limits))
            else:
                self.points_not_built += 1
            if not watched:
                watched = alerts.watches(identity, point.chart)
        if not watched:  # nothing fires, nothing can resolve: no alert to make
            return outputs
        for signal in signals:
            stats.signals[signal.rule] += 1
            if stats.first_signal_ts is None:
                stats.first_signal_ts = signal.ts
        spec = stream.spec  # per-stream severity and resolve rule
        outputs.extend(
            alerts.observe(
                identity,
                points,
                signals,
                getattr(spec, "severity", None),
                resolve_after=getattr(spec, "resolve_after_points", None),
                limits=stream.limits,
            )
        )
        return outputs

    def _inspect(self, record: Inspection) -> list[Output]:
        self.defect_codes.update(record.defect_codes)
        key = (record.line, record.station)
        window = self._kpi_windows.get(key)
        if window is None:
            window = self._kpi_windows[key] = self._new_kpi_window(key)
        return inspection_kpis(record, window)

    def _new_kpi_window(self, key: tuple[str, str]) -> KpiWindow:
        station = self._stations.get(key)
        if station is None:  # inspections of an unconfigured station still get KPIs
            return KpiWindow(DEFAULT_KPI_WINDOW_S, DEFAULT_KPI_EVERY_S)
        return KpiWindow(station.kpi_window_s, station.kpi_every_s)

    # -- reporting and state -----------------------------------------------------------

    @property
    def stream_stats(self) -> list[StreamStats]:
        for stream in self._streams.values():  # read here, not kept up per record
            progress = getattr(stream.detector, "phase1_progress", None)
            if isinstance(progress, tuple):
                stream.stats.phase1_progress = progress
        return [s.stats for s in self._streams.values()]

    def keys(self) -> list[str]:
        """Every ``line/station`` key the engine holds state for."""
        found = {f"{line}/{station}" for line, station, _ in self._streams}
        found.update(f"{line}/{station}" for line, station in self._kpi_windows)
        found.update(self._clocks)
        found.update(self.models.keys())
        found.update(f"{a.line}/{a.station}" for a in self.alerts.firing)
        return sorted(found)

    def snapshot_key(self, key: str) -> dict[str, Any]:
        """The learned state of one ``line/station``, JSON-able."""
        line, _, station = key.partition("/")
        streams = [(k[2], s) for k, s in self._streams.items() if (k[0], k[1]) == (line, station)]
        alerts = self.alerts.snapshot(lambda a: (a.line, a.station) == (line, station))
        return self._snapshot_key(key, streams, alerts)

    def _snapshot_key(
        self, key: str, streams: list[tuple[str, Stream]], alerts: dict[str, Any]
    ) -> dict[str, Any]:
        line, _, station = key.partition("/")
        clock = self._clocks.get(key)
        window = self._kpi_windows.get((line, station))
        return {
            "streams": {name: encode_stream(stream) for name, stream in streams},
            "kpi_window": encode_kpi_window(window),
            "clock": None if clock is None else clock.state(),
            "alerts": alerts,
            "models": self.models.snapshot_key(key),
        }

    def restore_key(self, key: str, state: Mapping[str, Any]) -> None:
        """Replace one ``line/station``'s state; streams no longer configured are dropped."""
        self.drop_key(key)
        line, _, station = key.partition("/")
        for name, saved in state["streams"].items():
            spec = self._specs.get((line, station, name))
            if spec is None:
                continue
            stream = new_stream(StreamIdentity(line, station, name), spec)
            decode_stream(stream, saved)
            self._streams[(line, station, name)] = stream
        if state["kpi_window"] is not None:
            window = self._new_kpi_window((line, station))
            self._kpi_windows[(line, station)] = decode_kpi_window(window, state["kpi_window"])
        clock = decode_clock(state)
        if clock is not None:
            self._clocks[key] = clock
        self.alerts.restore(state["alerts"])
        self.models.restore_key(key, state.get("models"))

    def drop_key(self, key: str) -> None:
        """Forget one ``line/station`` (its partition was revoked from this worker)."""
        line, _, station = key.partition("/")
        for stream_key in [k for k in self._streams if (k[0], k[1]) == (line, station)]:
            del self._streams[stream_key]
        self._kpi_windows.pop((line, station), None)
        self._clocks.pop(key, None)
        self.models.drop_key(key)
        self.alerts.forget(lambda a: (a.line, a.station) == (line, station))

    def rebuild_key(
        self, key: str, base: Mapping[str, Any] | None, records: Sequence[WireRecord]
    ) -> None:
        """Reset ``key`` to ``base`` (its :meth:`snapshot_key`; ``None``: nothing learned yet)
        and apply ``records`` again, their outputs discarded.

        After a record's processing raised half-way, this gives the key exactly the state
        it would have without that record (detectors are deterministic, and their
        snapshot/restore round trip is exact). The report's counters are kept as they were.
        """
        line, _, station = key.partition("/")
        counters = (
            self.records_by_kind,
            self.unconfigured,
            self.defect_codes,
            self.before_limits,
            self.refused,
            self.incomplete_vectors,
        )
        saved_counters = [counter.copy() for counter in counters]
        saved_reasons = dict(self.refused_reasons)
        saved_unbuilt = self.points_not_built  # the rebuild's outputs are discarded
        stats = {k: s.stats for k, s in self._streams.items() if (k[0], k[1]) == (line, station)}
        if base is None:
            self.drop_key(key)
        else:
            self.restore_key(key, base)
        self.models.rebuilding = key
        try:
            for record in records:
                with contextlib.suppress(RecordRejected):
                    self.process(record)
        finally:
            self.models.rebuilding = None
        for counter, saved in zip(counters, saved_counters, strict=True):
            counter.clear()
            counter.update(saved)
        self.refused_reasons = saved_reasons
        self.points_not_built = saved_unbuilt
        for stream_key, stream in self._streams.items():
            if stream_key in stats:
                stream.stats = stats[stream_key]

    def snapshot(self) -> dict[str, Any]:
        """All learned state, JSON-able, per ``line/station`` key (equal to
        :meth:`snapshot_key` of each; streams and alerts grouped in one pass, not per key)."""
        streams: dict[str, list[tuple[str, Stream]]] = {}
        for (line, station, name), stream in self._streams.items():
            streams.setdefault(f"{line}/{station}", []).append((name, stream))
        alerts: dict[str, dict[str, Any]] = {}
        for fp, saved in self.alerts.snapshot().items():
            alert = saved["alert"]
            alerts.setdefault(f"{alert['line']}/{alert['station']}", {})[fp] = saved
        return {
            "keys": {
                key: self._snapshot_key(key, streams.get(key, []), alerts.get(key, {}))
                for key in self.keys()
            }
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Load :meth:`snapshot` output."""
        for key, saved in state["keys"].items():
            self.restore_key(key, saved)


def _phase(point: PlotPoint, limits: LimitsWindow | None) -> Literal["I", "II"]:
    """``I`` for a point of the window that estimated its limits (or one before any
    limits), ``II`` for a point judged against limits set before it."""
    if point.limits_version == 0:
        return "I"
    if limits is None or limits.end is None or limits.version != point.limits_version:
        return "II"
    return "I" if point.ts <= limits.end else "II"


def _chart_point(
    identity: StreamIdentity, point: PlotPoint, limits: LimitsWindow | None = None
) -> ChartPoint:
    return ChartPoint(
        ts=point.ts,
        line=identity.line,
        station=identity.station,
        characteristic=identity.characteristic,
        chart=point.chart,
        value=float(point.value),
        cl=plain_float(point.center),
        ucl=plain_float(point.ucl),
        lcl=plain_float(point.lcl),
        zone=point.zone,
        limits_version=point.limits_version,
        violations=list(point.rules),
        phase=_phase(point, limits),
    )


def _iso(posix: float) -> str:
    return datetime.fromtimestamp(posix, UTC).isoformat()
