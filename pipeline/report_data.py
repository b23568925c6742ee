"""What the HTML report keeps while a replay runs: chart points, alerts, KPIs, values.

:class:`ChartCollector` is a sink (routes ``points``, ``alerts``, ``kpis`` and
``records``). Its memory is bounded: beyond ``max_points`` points a series keeps every
other point (then every fourth...) for display, but always the violating points and the
first point of each limits version, so nothing that matters is thinned away. Capability
values are kept up to ``max_values`` a characteristic (the most recent), inspections as
hourly counts a station.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from linewatch.pipeline.charts.control import ChartRow
from linewatch.pipeline.config import CharacteristicConfig, Config, MultivariateConfig
from linewatch.pipeline.models import (
    Alert,
    ChartPoint,
    Inspection,
    Kpi,
    Measurement,
    Output,
    WireRecord,
)

__all__ = [
    "ChartCollector",
    "PeriodCounts",
    "SeriesKey",
    "SpecLimits",
    "StreamSeries",
    "ValueSeries",
    "collector_for",
]

#: (line, station, stream, chart): one plotted series.
SeriesKey = tuple[str, str, str, str]


@dataclass(frozen=True, slots=True)
class SpecLimits:
    lsl: float | None
    usl: float | None
    target: float | None
    subgroup_size: int


@dataclass(slots=True)
class StreamSeries:
    """The displayed points of one chart of one stream."""

    rows: list[ChartRow] = field(default_factory=list)
    total: int = 0
    violating: int = 0
    stride: int = 1
    last_version: int = -1
    version_points: int = 0  # points seen in the current limits version (phase I test)


@dataclass(slots=True)
class ValueSeries:
    """Individual measured values of a characteristic, grouped in subgroups."""

    groups: deque[list[float]] = field(default_factory=deque)
    group_id: str | None = None
    values: int = 0
    seen: int = 0


@dataclass(slots=True)
class PeriodCounts:
    """Inspection counts of one station in one hour."""

    parts: int = 0
    first_pass: int = 0
    defective: int = 0
    defects: int = 0
    rework: int = 0


class ChartCollector:
    """A sink that keeps what the HTML report draws (see the module docstring)."""

    def __init__(
        self,
        phase1: Mapping[tuple[str, str, str], int] | None = None,
        specs: Mapping[tuple[str, str, str], SpecLimits] | None = None,
        max_points: int = 5000,
        max_values: int = 50_000,
    ) -> None:
        self.phase1 = dict(phase1 or {})
        self.specs = dict(specs or {})
        self.max_points = max_points
        self.max_values = max_values
        self.series: dict[SeriesKey, StreamSeries] = {}
        self.alerts: list[Alert] = []
        self.kpis: dict[tuple[str, str, str, str], StreamSeries] = {}
        self.values: dict[tuple[str, str, str], ValueSeries] = {}
        self.hourly: dict[tuple[str, str], dict[datetime, PeriodCounts]] = {}
        self.defect_codes: dict[tuple[str, str], Counter[str]] = {}
        self.first_ts: datetime | None = None
        self.last_ts: datetime | None = None

    # -- the sink ---------------------------------------------------------------------

    def add(self, item: Output | WireRecord) -> None:
        if isinstance(item, ChartPoint):
            self._point(item)
        elif isinstance(item, Alert):
            self.alerts.append(item)
        elif isinstance(item, Kpi):
            self._kpi(item)
        elif isinstance(item, Measurement):
            self._seen(item.ts)
            self._value(item)
        elif isinstance(item, Inspection):
            self._seen(item.ts)
            self._inspection(item)
        elif isinstance(item, WireRecord):
            self._seen(item.ts)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    # -- points -----------------------------------------------------------------------

    def _seen(self, ts: datetime) -> None:
        if self.first_ts is None or ts < self.first_ts:
            self.first_ts = ts
        if self.last_ts is None or ts > self.last_ts:
            self.last_ts = ts

    def _point(self, point: ChartPoint) -> None:
        key = (point.line, point.station, point.characteristic, point.chart)
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = StreamSeries()
        if point.limits_version != series.last_version:
            series.version_points = 0
        series.version_points += 1
        phase = getattr(point, "phase", None)
        if phase is None:
            size = self.phase1.get(key[:3], 0)
            in_phase1 = point.limits_version >= 1 and series.version_points <= size
            phase = "I" if in_phase1 else "II"
        row = ChartRow(
            point.ts,
            point.value,
            point.cl,
            point.ucl,
            point.lcl,
            point.zone,
            tuple(point.violations),
            point.limits_version,
            str(phase),
            series.total + 1,
        )
        self._keep(series, row, point.limits_version != series.last_version)
        series.last_version = point.limits_version
        if point.violations:
            series.violating += 1

    def _keep(self, series: StreamSeries, row: ChartRow, version_start: bool) -> None:
        series.total += 1
        if row.violations or version_start or (row.number - 1) % series.stride == 0:
            series.rows.append(row)
        if len(series.rows) > self.max_points:
            series.stride *= 2
            kept: list[ChartRow] = []
            version = -1
            for r in series.rows:
                if (
                    r.violations
                    or r.limits_version != version
                    or (r.number - 1) % series.stride == 0
                ):
                    kept.append(r)
                version = r.limits_version
            series.rows = kept

    def _kpi(self, kpi: Kpi) -> None:
        key = (kpi.line, kpi.station, kpi.characteristic or "", kpi.kpi)
        series = self.kpis.get(key)
        if series is None:
            series = self.kpis[key] = StreamSeries()
        row = ChartRow(kpi.ts, kpi.value, None, kpi.upper, kpi.lower, number=series.total + 1)
        self._keep(series, row, False)

    # -- records ----------------------------------------------------------------------

    def _value(self, record: Measurement) -> None:
        key = (record.line, record.station, record.characteristic)
        spec = self.specs.get(key)
        if spec is None:
            return
        series = self.values.get(key)
        if series is None:
            series = self.values[key] = ValueSeries()
        last = series.groups[-1] if series.groups else None
        if (
            last is None
            or (record.subgroup is not None and record.subgroup != series.group_id)
            or (record.subgroup is None and len(last) >= spec.subgroup_size)
        ):
            series.groups.append([record.value])
        else:
            last.append(record.value)
        series.group_id = record.subgroup
        series.values += 1
        series.seen += 1
        while series.values > self.max_values and len(series.groups) > 1:
            series.values -= len(series.groups.popleft())

    def _inspection(self, record: Inspection) -> None:
        key = (record.line, record.station)
        hour = record.ts.replace(minute=0, second=0, microsecond=0)
        counts = self.hourly.setdefault(key, {}).setdefault(hour, PeriodCounts())
        counts.parts += 1
        counts.first_pass += record.result == "pass" and not record.rework
        counts.defective += record.result == "fail" or record.defects > 0
        counts.defects += record.defects
        counts.rework += record.rework
        self.defect_codes.setdefault(key, Counter()).update(record.defect_codes)

    def counts_between(self, start: datetime, end: datetime) -> dict[tuple[str, str], PeriodCounts]:
        """Inspection counts a station over the hours starting in ``[start, end)``."""
        out: dict[tuple[str, str], PeriodCounts] = {}
        for key, hours in self.hourly.items():
            total = PeriodCounts()
            for hour, c in hours.items():
                if start <= hour < end:
                    total.parts += c.parts
                    total.first_pass += c.first_pass
                    total.defective += c.defective
                    total.defects += c.defects
                    total.rework += c.rework
            out[key] = total
        return out

    def span(self) -> tuple[datetime, datetime] | None:
        if self.first_ts is None or self.last_ts is None:
            return None
        return self.first_ts, self.last_ts + timedelta(microseconds=1)


def collector_for(config: Config, **options: Any) -> ChartCollector:
    """A collector that knows each stream's phase-I length and spec limits."""
    phase1: dict[tuple[str, str, str], int] = {}
    specs: dict[tuple[str, str, str], SpecLimits] = {}
    for line in config.lines:
        for station in line.stations:
            for c in station.characteristics:
                key = (line.name, station.name, c.name)
                phase1[key] = 0 if c.limits is not None else c.phase1
                if isinstance(c, CharacteristicConfig) and (c.lsl is not None or c.usl is not None):
                    specs[key] = SpecLimits(c.lsl, c.usl, c.target, c.subgroup_size)
            for p in station.parameters:
                key = (line.name, station.name, f"{p.equipment}/{p.name}")
                phase1[key] = 0 if p.limits is not None else p.phase1
            for group in station.multivariate:
                if isinstance(group, MultivariateConfig):
                    phase1[(line.name, station.name, group.name)] = group.phase1
    return ChartCollector(phase1, specs, **options)
