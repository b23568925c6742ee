"""KPIs: rolling inspection yields per station, and capability indices as KPI outputs."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from linewatch.detectors.base import Evaluation
from linewatch.pipeline.alerts import StreamIdentity
from linewatch.pipeline.config import StationConfig
from linewatch.pipeline.models import Inspection, Kpi, Output

__all__ = [
    "DEFAULT_KPI_EVERY_S",
    "DEFAULT_KPI_WINDOW_S",
    "KpiWindow",
    "capability_kpis",
    "inspection_kpis",
    "plain_float",
]

DEFAULT_KPI_WINDOW_S = StationConfig.model_fields["kpi_window_s"].default
DEFAULT_KPI_EVERY_S = StationConfig.model_fields["kpi_every_s"].default

#: One inspected part: ts, first pass, has a defect, defects, rework.
Part = tuple[datetime, bool, bool, int, bool]


@dataclass(slots=True)
class KpiWindow:
    """Rolling first-pass yield, defect and rework rates of one station's inspections."""

    window_s: float
    every_s: float
    parts: deque[Part] = field(default_factory=deque)
    next_emit: datetime | None = None
    #: The parts at the last snapshot and their checkpoint rows (state_codec.py): a part
    #: is encoded once, not at every checkpoint while it stays in the window.
    encoded: tuple[list[Part], list[list[Any]]] = field(
        default_factory=lambda: ([], []), repr=False, compare=False
    )

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


def inspection_kpis(record: Inspection, window: KpiWindow) -> list[Output]:
    """The KPIs ``record`` makes due in its station's ``window`` (most records: none)."""
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


def capability_kpis(
    identity: StreamIdentity, window_n: int, evaluation: Evaluation
) -> list[Output]:
    """Cp, Cpk, Pp, Ppk points of a capability detector, with their bounds, as KPIs."""
    return [
        Kpi(
            ts=point.ts,
            line=identity.line,
            station=identity.station,
            kpi=point.chart,
            value=float(point.value),
            window_s=0.0,
            characteristic=identity.characteristic,
            window_n=window_n,
            lower=plain_float(point.lcl),
            upper=plain_float(point.ucl),
        )
        for point in evaluation.points
    ]


def plain_float(value: float | None) -> float | None:
    """A plain float: detectors may hand numpy scalars, which the encoders refuse."""
    return None if value is None else float(value)
