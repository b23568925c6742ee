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
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from linewatch.detectors.base import (
    Detector,
    DetectorInputError,
    Evaluation,
    Observation,
    PlotPoint,
)
from linewatch.pipeline.alerts import AlertManager, StreamIdentity
from linewatch.pipeline.config import (
    ATTRIBUTE_CHARTS,
    CharacteristicConfig,
    Config,
    ConfigError,
    MultivariateConfig,
    ParameterConfig,
    StationConfig,
)
from linewatch.pipeline.factory import build_capability, build_detector, build_multivariate
from linewatch.pipeline.guards import EventClock, ValueGuard
from linewatch.pipeline.modelling import ModelRuntime
from linewatch.pipeline.models import (
    Alert,
    Attribute,
    ChartPoint,
    Inspection,
    Kpi,
    Measurement,
    Output,
    Parameter,
    WireRecord,
)

__all__ = ["Engine", "RecordRejected", "StreamStats"]

DEFAULT_KPI_WINDOW_S = StationConfig.model_fields["kpi_window_s"].default
DEFAULT_KPI_EVERY_S = StationConfig.model_fields["kpi_every_s"].default
#: Pending part vectors kept per multivariate group before the oldest incomplete is dropped.
MAX_PENDING_VECTORS = 64


class RecordRejected(ValueError):
    """A valid record the engine cannot use (late, or a detector refused its value)."""


@dataclass(slots=True)
class StreamStats:
    """What the report says about one stream."""

    identity: StreamIdentity
    chart: str
    observations: int = 0
    points: int = 0
    first_ts: datetime | None = None
    last_ts: datetime | None = None
    signals: Counter[str] = field(default_factory=Counter)
    first_signal_ts: datetime | None = None
    center: float | None = None
    lcl: float | None = None
    ucl: float | None = None
    main_chart: str = ""  # the location chart (first plotted): its limits are the ones shown


Spec = CharacteristicConfig | ParameterConfig | MultivariateConfig


@dataclass(slots=True)
class _Stream:
    identity: StreamIdentity
    spec: Spec
    detector: Detector
    stats: StreamStats
    capability: Detector | None = None
    pending: list[float] = field(default_factory=list)
    pending_id: str | None = None
    pending_ts: datetime | None = None  # of the newest value in ``pending``
    # Multivariate groups: values per part (part id, or timestamp without one), oldest first.
    vectors: dict[str, dict[str, float]] = field(default_factory=dict)
    guard: ValueGuard | None = None

    @property
    def subgroup_size(self) -> int:
        return 1 if isinstance(self.spec, MultivariateConfig) else self.spec.subgroup_size


def _new_stream(identity: StreamIdentity, spec: Spec) -> _Stream:
    if isinstance(spec, MultivariateConfig):
        return _Stream(identity, spec, build_multivariate(spec), StreamStats(identity, "t2"))
    capability = build_capability(spec) if isinstance(spec, CharacteristicConfig) else None
    stream = _Stream(
        identity, spec, build_detector(spec), StreamStats(identity, spec.chart), capability
    )
    if spec.chart not in ATTRIBUTE_CHARTS:
        sigmas = None if spec.chart == "zmr" else spec.implausible_sigma
        plausible = (spec.plausible.min, spec.plausible.max) if spec.plausible else None
        if sigmas is not None or plausible is not None:
            stream.guard = ValueGuard(plausible, sigmas)
    return stream


@dataclass(slots=True)
class _KpiWindow:
    """Rolling first-pass yield, defect and rework rates of one station's inspections."""

    window_s: float
    every_s: float
    parts: deque[tuple[datetime, bool, bool, int, bool]] = field(default_factory=deque)
    next_emit: datetime | None = None

    def add(self, record: Inspection) -> list[tuple[str, float]]:
        first_pass = record.result == "pass" and not record.rework
        has_defect = record.defects > 0 or record.result == "fail"
        self.parts.append((record.ts, first_pass, has_defect, record.defects, record.rework))
        horizon = record.ts - timedelta(seconds=self.window_s)
        while self.parts and self.parts[0][0] <= horizon:
            self.parts.popleft()
        if self.next_emit is None:
            self.next_emit = record.ts + timedelta(seconds=self.every_s)
            return []
        if record.ts < self.next_emit:
            return []
        self.next_emit = record.ts + timedelta(seconds=self.every_s)
        count = len(self.parts)
        return [
            ("fpy", sum(p[1] for p in self.parts) / count),
            ("defect_rate", sum(p[2] for p in self.parts) / count),
            ("dpu", sum(p[3] for p in self.parts) / count),
            ("rework_rate", sum(p[4] for p in self.parts) / count),
        ]


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
                _new_stream(StreamIdentity(*key), spec)
            except (ValueError, DetectorInputError) as exc:
                problems.append(f"{paths[key]}: {exc}")
        if problems:
            raise ConfigError(problems)
        self.models = ModelRuntime(config, self.alerts)  # the stations' models: modelling.py
        self._streams: dict[tuple[str, str, str], _Stream] = {}
        self._kpi_windows: dict[tuple[str, str], _KpiWindow] = {}
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

    def _take_guarded(self) -> tuple[ValueGuard, float] | None:
        guarded, self._guarded = self._guarded, None
        return guarded

    def _guard(self, stream: _Stream, record: WireRecord, value: float) -> None:
        """Refuse an implausible ``value`` (before the stream changes); else remember it."""
        guard = stream.guard
        if guard is None:
            return
        why = guard.check(value)
        if why is not None:
            raise RecordRejected(
                f"implausible value: `value` {value:g} of {record.stream_key}/"
                f"{stream.identity.characteristic} {why}"
            )
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
        if chart in ATTRIBUTE_CHARTS:
            raise RecordRejected(
                f"{record.characteristic} is charted as {chart!r}, which takes "
                "attribute records (inspected, nonconforming), not measurements"
            )
        if chart == "zmr":
            if record.product is None:
                raise RecordRejected(
                    f"{record.characteristic} is charted as 'zmr', which needs "
                    "the `product` (part number) of each measurement"
                )
            self._guard(stream, record, record.value)
            x: Observation = {"value": record.value, "part": record.product}  # type: ignore[dict-item]
            return self._observe(stream, record, x)
        return self._chart(record, record.characteristic, record.value, record.subgroup)

    def _attribute(self, record: Attribute) -> list[Output]:
        stream = self._stream(record, record.characteristic)
        if stream is None:
            return []
        chart = stream.stats.chart
        if chart not in ATTRIBUTE_CHARTS:
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
        values = stream.vectors.setdefault(part, {})
        values[name] = record.value
        spec = stream.spec
        assert isinstance(spec, MultivariateConfig)
        if len(values) < len(spec.parameters):
            while len(stream.vectors) > MAX_PENDING_VECTORS:
                oldest = next(iter(stream.vectors))
                del stream.vectors[oldest]
                self.incomplete_vectors[f"{record.stream_key}/{group}"] += 1
            return []
        del stream.vectors[part]
        return self._observe(stream, record, values)

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
        clock.future_run.clear()
        if reference - ts > self._lateness_s:
            raise RecordRejected(
                f"late record: ts {record.ts.isoformat()} is {reference - ts:.6g} s older than "
                f"the recent median of {record.stream_key} ({_iso(reference)}); allowed "
                f"lateness is {self._lateness_s:g} s"
            )
        return False

    def _stream(self, record: WireRecord, name: str) -> _Stream | None:
        key = (record.line, record.station, name)
        stream = self._streams.get(key)
        if stream is None:
            spec = self._specs.get(key)
            if spec is None:
                self.unconfigured[f"{record.stream_key}/{name}"] += 1
                return None
            stream = self._streams[key] = _new_stream(
                StreamIdentity(record.line, record.station, name), spec
            )
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
            if stream.pending and subgroup is not None and subgroup != stream.pending_id:
                # A new subgroup id closes the previous subgroup even if it is short; if the
                # chart refuses it (one value for a range), that is counted, and this
                # record, which is fine, goes on.
                closed, closed_ts = stream.pending, stream.pending_ts
                stream.pending, stream.pending_id = [], None
                outputs = self._refusable(
                    record,
                    stream.identity.characteristic,
                    lambda: self._observe(stream, record, closed, closed_ts),
                )
            stream.pending.append(value)
            stream.pending_id = subgroup
            stream.pending_ts = record.ts
            if len(stream.pending) >= stream.subgroup_size:
                closed, stream.pending, stream.pending_id = stream.pending, [], None
                outputs += self._observe(stream, record, closed)
        if stream.capability is not None:
            outputs += self._capability(stream, record.ts, value)
        return outputs

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
        self, stream: _Stream, record: WireRecord, x: Observation, ts: datetime | None = None
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

    def _capability(self, stream: _Stream, ts: datetime, value: float) -> list[Output]:
        assert stream.capability is not None
        identity = stream.identity
        try:
            evaluation = stream.capability.update(ts, value)
        except DetectorInputError as exc:
            raise RecordRejected(f"{identity.characteristic}: {exc}") from exc
        window = getattr(stream.capability, "window", 0)
        return [
            Kpi(
                ts=point.ts,
                line=identity.line,
                station=identity.station,
                kpi=point.chart,
                value=float(point.value),
                window_s=0.0,
                characteristic=identity.characteristic,
                window_n=window,
                lower=_float(point.lcl),
                upper=_float(point.ucl),
            )
            for point in evaluation.points
        ]

    def _outputs(self, stream: _Stream, evaluation: Evaluation) -> list[Output]:
        identity = stream.identity
        stats = stream.stats
        outputs: list[Output] = []
        for point in evaluation.points:
            stats.points += 1
            if not stats.main_chart:
                stats.main_chart = point.chart
            if point.center is not None and point.chart == stats.main_chart:
                stats.center, stats.lcl, stats.ucl = point.center, point.lcl, point.ucl
            outputs.append(_chart_point(identity, point))
        for signal in evaluation.signals:
            stats.signals[signal.rule] += 1
            if stats.first_signal_ts is None:
                stats.first_signal_ts = signal.ts
        alerts: list[Alert] = self.alerts.observe(identity, evaluation.points, evaluation.signals)
        outputs.extend(alerts)
        return outputs

    def _inspect(self, record: Inspection) -> list[Output]:
        self.defect_codes.update(record.defect_codes)
        key = (record.line, record.station)
        window = self._kpi_windows.get(key)
        if window is None:
            window = self._kpi_windows[key] = self._new_kpi_window(key)
        return [
            Kpi(
                ts=record.ts,
                line=record.line,
                station=record.station,
                kpi=name,
                value=value,
                window_s=window.window_s,
            )
            for name, value in window.add(record)
        ]

    def _new_kpi_window(self, key: tuple[str, str]) -> _KpiWindow:
        station = self._stations.get(key)
        if station is None:  # inspections of an unconfigured station still get KPIs
            return _KpiWindow(DEFAULT_KPI_WINDOW_S, DEFAULT_KPI_EVERY_S)
        return _KpiWindow(station.kpi_window_s, station.kpi_every_s)

    # -- reporting and state -----------------------------------------------------------

    @property
    def stream_stats(self) -> list[StreamStats]:
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
        clock = self._clocks.get(key)
        window = self._kpi_windows.get((line, station))
        return {
            "streams": {
                name: {
                    "detector": msgspec.json.decode(stream.detector.snapshot()),
                    "capability": None
                    if stream.capability is None
                    else msgspec.json.decode(stream.capability.snapshot()),
                    "pending": list(stream.pending),
                    "pending_id": stream.pending_id,
                    "pending_ts": stream.pending_ts.isoformat() if stream.pending_ts else None,
                    "vectors": {part: dict(values) for part, values in stream.vectors.items()},
                    "guard": None if stream.guard is None else stream.guard.state(),
                }
                for (at_line, at_station, name), stream in self._streams.items()
                if (at_line, at_station) == (line, station)
            },
            "kpi_window": None
            if window is None
            else {
                "parts": [[p[0].isoformat(), *p[1:]] for p in window.parts],
                "next_emit": window.next_emit.isoformat() if window.next_emit else None,
            },
            "clock": None if clock is None else clock.state(),
            "alerts": self.alerts.snapshot(lambda a: (a.line, a.station) == (line, station)),
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
            stream = _new_stream(StreamIdentity(line, station, name), spec)
            stream.detector.restore(msgspec.json.encode(saved["detector"]))
            if stream.capability is not None and saved["capability"] is not None:
                stream.capability.restore(msgspec.json.encode(saved["capability"]))
            stream.pending = [float(v) for v in saved["pending"]]
            stream.pending_id = saved["pending_id"]
            pending_ts = saved["pending_ts"]
            stream.pending_ts = datetime.fromisoformat(pending_ts) if pending_ts else None
            stream.vectors = {part: dict(values) for part, values in saved["vectors"].items()}
            if stream.guard is not None and saved.get("guard") is not None:
                stream.guard.restore(saved["guard"])
            self._streams[(line, station, name)] = stream
        saved_window = state["kpi_window"]
        if saved_window is not None:
            window = self._new_kpi_window((line, station))
            window.parts.extend(
                (datetime.fromisoformat(p[0]), bool(p[1]), bool(p[2]), int(p[3]), bool(p[4]))
                for p in saved_window["parts"]
            )
            next_emit = saved_window["next_emit"]
            window.next_emit = datetime.fromisoformat(next_emit) if next_emit else None
            self._kpi_windows[(line, station)] = window
        if state.get("clock") is not None:
            self._clocks[key] = EventClock.from_state(state["clock"])
        elif state.get("watermark") is not None:  # state saved before the robust clock
            self._clocks[key] = clock = EventClock()
            clock.commit(datetime.fromisoformat(state["watermark"]).timestamp())
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
        for stream_key, stream in self._streams.items():
            if stream_key in stats:
                stream.stats = stats[stream_key]

    def snapshot(self) -> dict[str, Any]:
        """All learned state, JSON-able, per ``line/station`` key."""
        return {"keys": {key: self.snapshot_key(key) for key in self.keys()}}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Load :meth:`snapshot` output."""
        for key, saved in state["keys"].items():
            self.restore_key(key, saved)


def _chart_point(identity: StreamIdentity, point: PlotPoint) -> ChartPoint:
    return ChartPoint(
        ts=point.ts,
        line=identity.line,
        station=identity.station,
        characteristic=identity.characteristic,
        chart=point.chart,
        value=float(point.value),
        cl=_float(point.center),
        ucl=_float(point.ucl),
        lcl=_float(point.lcl),
        zone=point.zone,
        limits_version=point.limits_version,
        violations=list(point.rules),
    )


def _iso(posix: float) -> str:
    return datetime.fromtimestamp(posix, UTC).isoformat()


def _float(value: float | None) -> float | None:
    """A plain float: detectors may hand numpy scalars, which the encoders refuse."""
    return None if value is None else float(value)
