"""Route tree and shift calendar: who hears of an alert, at 05:59, 06:00, across DST."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from linewatch.pipeline.models import alert_labels
from linewatch.pipeline.notify.config import NotificationsConfig, ShiftCalendarConfig
from linewatch.pipeline.notify.policy import NotificationPolicy
from linewatch.pipeline.notify.routes import Route
from linewatch.pipeline.notify.shifts import ShiftCalendar

from .alerts import Clock, alert

RECEIVERS = ["ops", "pager", "anna", "bo", "chen", "holiday-desk"]
SHIFTS = {
    "time_zone": "Europe/Berlin",
    "shifts": [
        {
            "name": "early",
            "days": ["mon", "tue", "wed", "thu", "fri"],
            "start": "06:00",
            "end": "14:00",
            "lead": "anna",
        },
        {
            "name": "late",
            "days": ["mon", "tue", "wed", "thu", "fri"],
            "start": "14:00",
            "end": "22:00",
            "lead": "chen",
        },
        # Sunday night into Monday too; it starts on the day listed.
        {
            "name": "night",
            "days": ["sun", "mon", "tue", "wed", "thu", "fri"],
            "start": "22:00",
            "end": "06:00",
            "lead": "bo",
        },
    ],
    "holidays": [{"date": "2026-12-25", "lead": "holiday-desk", "name": "Christmas"}],
    "fallback": "ops",
}


def config(route: dict[str, Any]) -> NotificationsConfig:
    return NotificationsConfig.model_validate(
        {
            "receivers": [
                {"name": n, "type": "webhook", "url": "http://127.0.0.1:9/"} for n in RECEIVERS
            ],
            "route": route,
            "shifts": SHIFTS,
        }
    )


TREE = {
    "receiver": "ops",
    "group_by": ["line"],
    "group_wait": 0,
    "routes": [
        {"matchers": ["severity=critical"], "receiver": "pager", "continue": True},
        {
            "matchers": ["line=L3", 'rule=~"nelson[1-8]"'],
            "receiver": "lead-on-duty",
            "group_by": ["line", "station"],
        },
        {"matchers": ["line=L3"], "receiver": "anna"},
    ],
}


def routes_of(**labels: str) -> list[tuple[str, str, tuple[str, ...]]]:
    base = alert_labels(alert("x"))
    tree = Route.build(config(TREE).route)
    return [(r.key, r.receiver, r.group_by) for r in tree.match({**base, **labels})]


def test_route_table() -> None:
    assert routes_of(severity="critical") == [
        ('{}/{severity="critical"}', "pager", ("line",)),
        ('{}/{line="L3",rule=~"nelson[1-8]"}', "lead-on-duty", ("line", "station")),
    ]
    assert routes_of(rule="capability") == [('{}/{line="L3"}', "anna", ("line",))]
    assert routes_of(line="L4") == [("{}", "ops", ("line",))]
    assert routes_of(line="L4", severity="critical") == [
        ('{}/{severity="critical"}', "pager", ("line",))
    ]


def lead(iso: str) -> str | None:
    return ShiftCalendar(ShiftCalendarConfig.model_validate(SHIFTS)).lead_at(
        datetime.fromisoformat(iso)
    )


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        ("2026-11-23T05:59:00+01:00", "bo"),  # Monday before the early shift: Sunday's night
        ("2026-11-23T06:00:00+01:00", "anna"),
        ("2026-11-23T13:59:59+01:00", "anna"),
        ("2026-11-23T14:00:00+01:00", "chen"),
        ("2026-11-23T22:00:00+01:00", "bo"),
        ("2026-11-24T03:00:00+01:00", "bo"),  # crossing midnight into Tuesday
        ("2026-11-28T12:00:00+01:00", "ops"),  # Saturday: no shift, the fallback
        ("2026-11-28T03:00:00+01:00", "bo"),  # Friday's night shift into Saturday morning
        ("2026-11-29T03:00:00+01:00", "ops"),  # no Saturday night shift
        ("2026-12-25T10:00:00+01:00", "holiday-desk"),
        ("2026-12-25T03:00:00+01:00", "holiday-desk"),  # the holiday wins all day
        (
            "2026-12-26T03:00:00+01:00",
            "bo",
        ),  # after midnight the 26th is no holiday: the night lead
    ],
)
def test_shift_calendar(instant: str, expected: str) -> None:
    assert lead(instant) == expected


def test_dst_change_in_europe_berlin() -> None:
    # 2026-03-29 (Sunday): 02:00 CET jumps to 03:00 CEST; the Sunday night shift runs 7 hours.
    assert lead("2026-03-29T22:00:00+02:00") == "bo"
    assert lead("2026-03-30T03:59:00+00:00") == "bo"  # 05:59 CEST Monday
    assert lead("2026-03-30T04:00:00+00:00") == "anna"  # 06:00 CEST Monday
    # The night of the change: Saturday has no night shift, 01:59 CET and 03:00 CEST are fallback.
    assert lead("2026-03-29T00:59:00+00:00") == "ops"
    # Friday 27th 22:00 CET night shift ends Saturday 06:00 CET.
    assert lead("2026-03-28T04:59:00+00:00") == "bo"
    assert lead("2026-03-28T05:00:00+00:00") == "ops"


def test_alerts_at_0559_and_0600_reach_the_right_leads() -> None:
    # The lead is whoever is on duty when the notification goes out (group_wait 0 here).
    clock = Clock(datetime(2026, 11, 23, 4, 59, tzinfo=UTC))  # 05:59 in Berlin
    policy = NotificationPolicy(config(TREE), clock=clock)
    policy.add(alert("early", station="weld-1", at=clock.now))
    first = policy.due()
    clock.advance(60)  # 06:00 in Berlin
    policy.add(alert("day", station="weld-2", at=clock.now))
    second = policy.due()
    assert [(n.receiver, n.alerts[0].fingerprint) for n in first + second] == [
        ("bo", "early"),
        ("anna", "day"),
    ]


def test_new_lead_hears_of_alerts_still_firing_and_an_alert_across_dst() -> None:
    tree = {**TREE, "group_interval": 3600, "repeat_interval": 86400}
    clock = Clock(datetime(2026, 3, 30, 3, 30, tzinfo=UTC))  # 05:30 CEST Monday (after DST)
    policy = NotificationPolicy(config(tree), clock=clock)
    policy.add(alert("a", at=clock.now))
    assert [n.receiver for n in policy.due()] == ["bo"]
    clock.advance(3600)  # 06:30 CEST: anna took over and was told nothing yet
    assert [n.receiver for n in policy.due()] == ["anna"]
    clock.advance(3600)
    assert policy.due() == []  # nothing new for anna, repeat is a day


def test_lead_on_duty_needs_shifts_and_known_leads() -> None:
    with pytest.raises(ValidationError, match="no shifts are set"):
        NotificationsConfig.model_validate(
            {
                "receivers": [{"name": "ops", "type": "webhook", "url": "http://x/"}],
                "route": {"receiver": "lead-on-duty"},
            }
        )
    with pytest.raises(ValidationError, match="shift lead 'zoe' is not a configured receiver"):
        NotificationsConfig.model_validate(
            {
                "receivers": [{"name": "ops", "type": "webhook", "url": "http://x/"}],
                "route": {"receiver": "ops"},
                "shifts": {
                    "time_zone": "UTC",
                    "shifts": [{"name": "d", "start": "06:00", "end": "18:00", "lead": "zoe"}],
                },
            }
        )
    with pytest.raises(ValidationError, match="unknown IANA time zone 'Mars/Olympus'"):
        ShiftCalendarConfig.model_validate({**SHIFTS, "time_zone": "Mars/Olympus"})
