"""Alerts and a clock for the notification tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from linewatch.pipeline.models import Alert

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


class Clock:
    """Processing time the test moves by hand."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def alert(
    fingerprint: str,
    *,
    rule: str = "nelson2",
    line: str = "L3",
    station: str = "weld-2",
    characteristic: str = "nugget_dia_mm",
    severity: str = "warning",
    at: datetime = T0,
    **changes: Any,
) -> Alert:
    made = Alert(
        alert_id=f"{fingerprint}-{int(at.timestamp() * 1000)}",
        fingerprint=fingerprint,
        status="firing",
        ts=at,
        starts_at=at,
        ends_at=None,
        line=line,
        station=station,
        characteristic=characteristic,
        chart="individuals",
        rule=rule,
        severity=severity,  # type: ignore[arg-type]
        value=5.61,
        cl=5.4,
        ucl=5.9,
        lcl=4.9,
        message=f"{characteristic} individuals: 7 points in a row on the same side of the center line",
    )
    return msgspec.structs.replace(made, **changes) if changes else made


def resolved(firing: Alert, at: datetime) -> Alert:
    return msgspec.structs.replace(firing, status="resolved", ts=at, ends_at=at)
