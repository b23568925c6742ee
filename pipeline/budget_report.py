"""False alarms a day in a replay with known faults: the report's measured budget.

An alert counts as an in-control false alarm when it fires while no known fault is
active: outside every fault's window extended by ``grace_s`` (the same 30 minutes the
detection table allows, so that a fault's effects downstream, a porosity rise after a
tip temperature drift, and the multivariate views of it are not called false). The rate
is per day of in-control time (the data's span minus the faults' extended windows).

>>> from datetime import datetime, timedelta, timezone
>>> t0 = datetime(2026, 11, 2, tzinfo=timezone.utc)
>>> fault = FaultWindow("f", "shift", "s/x", t0 + timedelta(hours=6), t0 + timedelta(hours=8))
>>> alarms = in_control_alarms([fault], [t0 + timedelta(hours=1), t0 + timedelta(hours=7)],
...                            t0, t0 + timedelta(days=2), grace_s=1800.0)
>>> alarms.count, round(alarms.days, 4), round(alarms.per_day, 3)
(1, 1.8958, 0.527)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from linewatch.pipeline.report import FaultWindow

__all__ = ["InControlAlarms", "in_control_alarms", "in_control_sentence"]


@dataclass(frozen=True, slots=True)
class InControlAlarms:
    count: int
    days: float

    @property
    def per_day(self) -> float | None:
        return None if self.days <= 0.0 else self.count / self.days


def _windows(
    faults: Sequence[FaultWindow], first: datetime, last: datetime, grace_s: float
) -> list[tuple[float, float]]:
    """The faults' windows plus grace, clipped to the data and merged (epoch seconds)."""
    lo, hi = first.timestamp(), last.timestamp()
    spans = sorted(
        (max(lo, f.start.timestamp()), min(hi, f.end.timestamp() + grace_s)) for f in faults
    )
    merged: list[tuple[float, float]] = []
    for start, end in spans:
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def in_control_alarms(
    faults: Sequence[FaultWindow],
    fired_at: Sequence[datetime],
    first: datetime,
    last: datetime,
    grace_s: float = 1800.0,
) -> InControlAlarms:
    """Alerts (their start times) fired while no fault was active, and the in-control days."""
    windows = _windows(faults, first, last, grace_s)
    faulty_s = sum(end - start for start, end in windows)
    days = max(0.0, (last - first).total_seconds() - faulty_s) / 86_400.0
    count = sum(
        1 for ts in fired_at if not any(start <= ts.timestamp() <= end for start, end in windows)
    )
    return InControlAlarms(count, days)


def in_control_sentence(alarms: InControlAlarms, strong: tuple[str, str] = ("**", "**")) -> str:
    """One sentence for the reports (``strong``: how the rate is emphasised)."""
    rate = alarms.per_day
    shown = "–" if rate is None else f"{rate:.2f}"
    return (
        f"In control (no known fault active, nor in the 30 minutes after one): "
        f"{alarms.count} alerts in {alarms.days:.2f} days = {strong[0]}{shown} false alarms a day{strong[1]}."
    )
