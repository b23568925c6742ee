"""Phase I's lag-1 autocorrelation, watched as records arrive (a report route).

For every variables stream of the config it keeps the first ``phase1`` points' worth of
values (``phase1 × subgroup_size``), groups them by count as the chart subgroups them,
and measures the lag-1 autocorrelation of the points the chart plots. Above
``alerting.autocorrelation_warn`` it logs a warning once and the report lists it, with
what to do (:data:`~linewatch.detectors.spc.autocorr.AUTOCORRELATION_ADVICE`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from linewatch.detectors.registry import chart_info
from linewatch.detectors.spc.autocorr import autocorrelation_warning, lag1_autocorrelation
from linewatch.pipeline.config import Config
from linewatch.pipeline.models import Measurement, Output, Parameter, WireRecord

__all__ = ["AutocorrelationWatch", "StreamAutocorrelation"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class StreamAutocorrelation:
    """One stream's phase-I values until there are enough, then its lag-1 autocorrelation."""

    points: int
    subgroup_size: int
    values: list[float] = field(default_factory=list)
    r1: float | None = None
    warning: str | None = None


class AutocorrelationWatch:
    """A sink of raw records (route ``records``); see the module docstring."""

    def __init__(self, config: Config) -> None:
        self.threshold = config.alerting.autocorrelation_warn
        self.streams: dict[str, StreamAutocorrelation] = {}
        if self.threshold is None:
            return
        for line in config.lines:
            for station in line.stations:
                specs = [(c.name, c) for c in station.characteristics] + [
                    (f"{p.equipment}/{p.name}", p) for p in station.parameters
                ]
                for name, spec in specs:
                    if chart_info(spec.chart).kind == "attribute" or spec.limits is not None:
                        continue
                    self.streams[f"{line.name}/{station.name}/{name}"] = StreamAutocorrelation(
                        max(3, spec.phase1), spec.subgroup_size
                    )

    def add(self, item: Output | WireRecord) -> None:
        if isinstance(item, Parameter):
            key = f"{item.line}/{item.station}/{item.equipment}/{item.name}"
        elif isinstance(item, Measurement):
            key = f"{item.line}/{item.station}/{item.characteristic}"
        else:
            return
        stream = self.streams.get(key)
        if stream is None or stream.r1 is not None:
            return
        stream.values.append(item.value)
        if len(stream.values) >= stream.points * stream.subgroup_size:
            self._judge(key, stream)

    def _judge(self, key: str, stream: StreamAutocorrelation) -> None:
        n = stream.subgroup_size
        values = stream.values
        points = [sum(values[i : i + n]) / n for i in range(0, len(values) - n + 1, n)]
        stream.values = []
        stream.r1 = lag1_autocorrelation(points)
        stream.warning = autocorrelation_warning(stream.r1, self.threshold)
        if stream.warning is not None:
            log.warning("%s: phase I %s", key, stream.warning)

    def warnings(self) -> list[str]:
        """``stream: warning`` for every stream whose phase I was too autocorrelated."""
        return [f"{key}: {s.warning}" for key, s in self.streams.items() if s.warning]

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass
