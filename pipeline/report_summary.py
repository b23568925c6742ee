"""The numbers a manager reads first: yield, defects, rework, DPU, alerts, episodes.

Rates are over inspected parts: first-pass yield = parts that passed without rework,
defect rate = parts with a defect or a fail, rework rate = reworked parts, DPU = defects
per part. The period is the whole replay; when the data covers two days or more, the
last 24 hours are also compared with the 24 hours before.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from linewatch.pipeline.models import Alert
from linewatch.pipeline.report import FaultWindow
from linewatch.pipeline.report_data import ChartCollector, PeriodCounts

__all__ = [
    "COMPARE_PERIOD",
    "Episode",
    "Rates",
    "Window",
    "episodes_that_matter",
    "rates",
    "severity_counts",
    "station_windows",
]

COMPARE_PERIOD = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Rates:
    parts: int
    fpy: float | None
    defect_rate: float | None
    rework_rate: float | None
    dpu: float | None


def rates(counts: PeriodCounts) -> Rates:
    """>>> rates(PeriodCounts(parts=4, first_pass=3, defective=1, defects=2, rework=0))
    Rates(parts=4, fpy=0.75, defect_rate=0.25, rework_rate=0.0, dpu=0.5)
    """
    n = counts.parts
    if n == 0:
        return Rates(0, None, None, None, None)
    return Rates(
        n, counts.first_pass / n, counts.defective / n, counts.rework / n, counts.defects / n
    )


def _total(parts: Sequence[PeriodCounts]) -> PeriodCounts:
    out = PeriodCounts()
    for c in parts:
        out.parts += c.parts
        out.first_pass += c.first_pass
        out.defective += c.defective
        out.defects += c.defects
        out.rework += c.rework
    return out


@dataclass(frozen=True, slots=True)
class Window:
    """Rates of one period a station (``"all"``: every inspecting station together)."""

    label: str
    start: datetime
    end: datetime
    by_station: dict[str, Rates]
    previous: dict[str, Rates] | None = None


def station_windows(collector: ChartCollector) -> list[Window]:
    """The whole replay, and the last 24 h against the 24 h before when the data has it."""
    span = collector.span()
    if span is None or not collector.hourly:
        return []
    first, last = span

    def table(start: datetime, end: datetime) -> dict[str, Rates]:
        counts = collector.counts_between(start, end)
        out = {f"{line}/{station}": rates(c) for (line, station), c in sorted(counts.items())}
        out["all stations"] = rates(_total(list(counts.values())))
        return out

    whole_start = first.replace(minute=0, second=0, microsecond=0)
    end = last.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    windows = [Window("whole replay", first, last, table(whole_start, end))]
    if end - 2 * COMPARE_PERIOD >= whole_start:
        cut = end - COMPARE_PERIOD
        windows.append(
            Window(
                "last 24 h",
                cut,
                end,
                table(cut, end),
                table(cut - COMPARE_PERIOD, cut),
            )
        )
    return windows


def severity_counts(alerts: Sequence[Alert], data_end: datetime | None) -> dict[str, Counter[str]]:
    """Per severity: alerts fired, resolved, and still firing at the end of the data."""
    out: dict[str, Counter[str]] = {}
    resolved = {(a.fingerprint, a.alert_id) for a in alerts if a.status == "resolved"}
    for a in alerts:
        if a.status != "firing":
            continue
        c = out.setdefault(a.severity, Counter())
        c["fired"] += 1
        c["resolved" if (a.fingerprint, a.alert_id) in resolved else "still firing"] += 1
    return out


@dataclass(frozen=True, slots=True)
class Episode:
    """Firing alerts less than ``gap`` apart; ``weight`` orders them by importance."""

    number: int
    start: datetime
    end: datetime
    alerts: tuple[Alert, ...]
    streams: tuple[str, ...]  # first alert of each stream, in time order
    fault: str | None  # the known fault it overlaps, if any

    @property
    def weight(self) -> tuple[int, int, int]:
        critical = sum(1 for a in self.alerts if a.severity == "critical")
        return (len(self.streams), critical, len(self.alerts))


def _episodes(alerts: Sequence[Alert], gap: timedelta) -> list[list[Alert]]:
    groups: list[list[Alert]] = []
    for a in sorted(alerts, key=lambda a: a.starts_at):
        if groups and a.starts_at - groups[-1][-1].starts_at <= gap:
            groups[-1].append(a)
        else:
            groups.append([a])
    return groups


def episodes_that_matter(
    alerts: Sequence[Alert],
    faults: Sequence[FaultWindow] = (),
    *,
    limit: int = 5,
    gap: timedelta = timedelta(hours=1),
) -> tuple[list[Episode], int]:
    """The ``limit`` weightiest episodes (most streams, then critical alerts, then alerts),
    in time order, and how many episodes there were in all.

    An episode with a single warning on one stream is not shown unless it is all there is.
    """
    fired = [a for a in alerts if a.status == "firing"]
    found: list[Episode] = []
    for number, group in enumerate(_episodes(fired, gap), start=1):
        streams: list[str] = []
        for a in group:
            name = f"{a.station}/{a.characteristic} ({a.chart} {a.rule})"
            if not any(s.startswith(f"{a.station}/{a.characteristic} ") for s in streams):
                streams.append(name)
        start, end = group[0].starts_at, group[-1].starts_at
        fault = next(
            (
                f.name
                for f in faults
                if f.start - gap <= start <= f.end + gap or f.start <= end <= f.end + gap
            ),
            None,
        )
        found.append(Episode(number, start, end, tuple(group), tuple(streams), fault))
    ranked = sorted(found, key=lambda e: e.weight, reverse=True)
    shown = [e for e in ranked if e.weight > (1, 0, 1)][:limit] or ranked[:limit]
    return sorted(shown, key=lambda e: e.start), len(found)
