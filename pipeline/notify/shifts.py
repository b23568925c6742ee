"""Who leads the shift on duty at an instant: shifts in a local time zone, holidays first.

Local wall-clock time decides, so a shift from 22:00 to 06:00 covers the night of a DST
change whatever its length in hours. A shift whose ``end`` is not after its ``start``
crosses midnight and belongs to the day it starts on. On a holiday (local date) the
holiday's lead is on duty from 00:00 to 24:00 of that date; the hours after midnight
that follow belong to the usual shifts again.

>>> from datetime import datetime, timezone
>>> from linewatch.pipeline.notify.config import ShiftCalendarConfig
>>> calendar = ShiftCalendar(ShiftCalendarConfig(time_zone="Europe/Berlin", shifts=[
...     {"name": "day", "start": "06:00", "end": "18:00", "lead": "anna"},
...     {"name": "night", "start": "18:00", "end": "06:00", "lead": "bo"}]))
>>> calendar.lead_at(datetime(2026, 11, 23, 4, 59, tzinfo=timezone.utc))  # 05:59 CET
'bo'
>>> calendar.lead_at(datetime(2026, 11, 23, 5, 0, tzinfo=timezone.utc))  # 06:00 CET
'anna'
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from linewatch.pipeline.notify.config import ShiftCalendarConfig, ShiftConfig

__all__ = ["ShiftCalendar"]

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ShiftCalendar:
    def __init__(self, config: ShiftCalendarConfig) -> None:
        self.config = config
        self.zone = ZoneInfo(config.time_zone)
        self._holidays = {h.date: h.lead for h in config.holidays}

    def shift_at(self, at: datetime) -> tuple[str, str] | None:
        """``(shift or holiday name, lead)`` on duty at the aware instant ``at``, or None."""
        local = at.astimezone(self.zone)
        day, clock = local.date(), local.time().replace(tzinfo=None)
        holiday = self._holidays.get(day)
        if holiday is not None:
            names = [h.name for h in self.config.holidays if h.date == day]
            return (names[0] or f"holiday {day.isoformat()}", holiday)
        for shift in self.config.shifts:
            if _covers(shift, day, clock):
                return (shift.name, shift.lead)
        return None

    def lead_at(self, at: datetime) -> str | None:
        """The receiver of the lead on duty at ``at`` (the fallback if no shift covers it)."""
        found = self.shift_at(at)
        return found[1] if found is not None else self.config.fallback


def _weekday(day: date) -> str:
    return _DAYS[day.weekday()]


def _covers(shift: ShiftConfig, day: date, clock: time) -> bool:
    if shift.start < shift.end:
        return _weekday(day) in shift.days and shift.start <= clock < shift.end
    # Crosses midnight: the evening part on a listed day, the morning part the day after.
    if _weekday(day) in shift.days and clock >= shift.start:
        return True
    return _weekday(day - timedelta(days=1)) in shift.days and clock < shift.end
