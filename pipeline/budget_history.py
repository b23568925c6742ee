"""What a history file says about a config's streams: their rates and autocorrelation.

``check-config --history FILE`` reads the file once (any format ``replay`` reads), counts
each configured stream's observations over the file's time span (observations a day, for
the false-alarm budget), and measures the lag-1 autocorrelation of each variables
stream's phase I as its chart would plot it (subgroup means for X-bar charts), to warn
when Shewhart limits would be too narrow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from linewatch.connectors.files import FileSource
from linewatch.detectors.registry import chart_info
from linewatch.detectors.spc.autocorr import autocorrelation_warning, lag1_autocorrelation
from linewatch.pipeline.budget import DAY_S, StreamRates
from linewatch.pipeline.config import Config
from linewatch.pipeline.decode import decode
from linewatch.pipeline.models import Attribute, Measurement, Parameter

__all__ = ["HistoryStats", "read_history"]

#: Values kept per stream for the autocorrelation (phase I is at most this many).
_KEEP = 5000


@dataclass(slots=True)
class HistoryStats:
    """Per stream key (``line/station/characteristic`` or ``…/equipment/name``)."""

    counts: dict[str, int] = field(default_factory=dict)
    values: dict[str, list[float]] = field(default_factory=dict)
    inspected: dict[str, int] = field(default_factory=dict)
    nonconforming: dict[str, int] = field(default_factory=dict)
    first: datetime | None = None
    last: datetime | None = None
    records: int = 0

    @property
    def days(self) -> float:
        if self.first is None or self.last is None:
            return 0.0
        return (self.last - self.first).total_seconds() / DAY_S

    def rates(self, config: Config) -> StreamRates:
        """Observations a day per stream (and p, lot size of attribute streams)."""
        rates = StreamRates.from_config(config)
        rates.source = f"history ({self.records} records over {self.days:.2f} days)"
        days = self.days
        if days <= 0.0:
            return rates
        stations: dict[str, float] = {}
        for key, count in self.counts.items():
            rates.observed[key] = count / days
            line_station = key.split("/", 2)[:2]
            if key in self.inspected:
                lots = count
                rates.proportions[key] = (
                    self.nonconforming[key] / max(1, self.inspected[key]),
                    self.inspected[key] / lots,
                )
            elif key.count("/") == 3:  # a parameter: the station's parts a day
                where = "/".join(line_station) + "/"
                stations[where] = max(stations.get(where, 0.0), count / days)
        rates.observed.update(stations)
        return rates

    def autocorrelation(self, config: Config) -> list[tuple[str, float, str | None]]:
        """(stream, lag-1 autocorrelation of its phase I, warning or None) per variables stream."""
        threshold = config.alerting.autocorrelation_warn
        found = []
        for line in config.lines:
            for station in line.stations:
                specs = [(c.name, c) for c in station.characteristics] + [
                    (f"{p.equipment}/{p.name}", p) for p in station.parameters
                ]
                for name, spec in specs:
                    if chart_info(spec.chart).kind == "attribute":
                        continue
                    key = f"{line.name}/{station.name}/{name}"
                    values = self.values.get(key, [])
                    n = spec.subgroup_size
                    points = [sum(values[i : i + n]) / n for i in range(0, len(values) - n + 1, n)][
                        : max(spec.phase1, 100)
                    ]
                    if len(points) < 3:
                        continue
                    r1 = lag1_autocorrelation(points)
                    found.append((key, r1, autocorrelation_warning(r1, threshold)))
        return found


def read_history(path: Path) -> HistoryStats:
    """Counts and the first values of every stream in ``path`` (bad records are skipped)."""
    stats = HistoryStats()
    source = FileSource(path, batch_size=5000)
    try:
        while not source.exhausted:
            for raw in source.poll(0.0):
                record = decode(raw)
                if isinstance(record, Parameter):
                    key = f"{record.line}/{record.station}/{record.equipment}/{record.name}"
                elif isinstance(record, (Measurement, Attribute)):
                    key = f"{record.line}/{record.station}/{record.characteristic}"
                else:
                    continue
                stats.records += 1
                ts = record.ts
                stats.first = ts if stats.first is None or ts < stats.first else stats.first
                stats.last = ts if stats.last is None or ts > stats.last else stats.last
                stats.counts[key] = stats.counts.get(key, 0) + 1
                if isinstance(record, Attribute):
                    stats.inspected[key] = stats.inspected.get(key, 0) + record.inspected
                    stats.nonconforming[key] = (
                        stats.nonconforming.get(key, 0) + record.nonconforming
                    )
                    continue
                kept = stats.values.setdefault(key, [])
                if len(kept) < _KEEP:
                    kept.append(record.value)
    finally:
        source.close()
    return stats
