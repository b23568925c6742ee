"""Inhibition and silences, in the policy and on their own."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from linewatch.pipeline.notify.config import NotificationsConfig
from linewatch.pipeline.notify.policy import NotificationPolicy
from linewatch.pipeline.notify.silences import SilenceError, SilenceStore

from .alerts import T0, Clock, alert, resolved

INHIBIT = [
    {
        "source_matchers": ['alertname=~"station_down|model"'],
        "target_matchers": ['alertname=~"nelson.*"'],
        "equal": ["line", "station"],
    }
]


def policy(clock: Clock, silences: SilenceStore | None = None, **extra: Any) -> NotificationPolicy:
    config = NotificationsConfig.model_validate(
        {
            "receivers": [{"name": "ops", "type": "webhook", "url": "http://127.0.0.1:9/"}],
            "route": {
                "receiver": "ops",
                "group_by": ["..."],
                "group_wait": 0,
                "group_interval": 60,
            },
            **extra,
        }
    )
    return NotificationPolicy(config, clock=clock, silences=silences)


def sent(p: NotificationPolicy) -> list[tuple[str, str]]:
    return sorted((a.fingerprint, a.status) for n in p.due() for a in n.alerts)


def test_station_down_mutes_that_stations_rule_alerts_while_it_fires() -> None:
    clock = Clock()
    p = policy(clock, inhibit_rules=INHIBIT)
    down = alert("down", rule="station_down", severity="critical")
    p.add(down)
    p.add(alert("rule-here"))  # same line and station: muted
    p.add(alert("rule-there", station="weld-3"))  # another station: not muted
    p.add(alert("cap-here", rule="capability"))  # not a target: not muted
    assert sent(p) == [("cap-here", "firing"), ("down", "firing"), ("rule-there", "firing")]
    p.add(resolved(down, clock.now))
    clock.advance(60)
    # The source resolved: the muted alert is new to the receiver now.
    assert sent(p) == [("down", "resolved"), ("rule-here", "firing")]


def test_model_alert_inhibits_too_and_an_alert_never_inhibits_itself() -> None:
    clock = Clock()
    rules = [
        {
            "source_matchers": ["severity=critical"],
            "target_matchers": ["severity=~critical|warning"],
            "equal": ["line"],
        }
    ]
    p = policy(clock, inhibit_rules=rules)
    p.add(alert("crit", severity="critical"))
    # Matches both sides: only a source that is not itself a target could mute it.
    p.add(alert("crit2", severity="critical", station="weld-9"))
    p.add(alert("warn", severity="warning"))
    assert sent(p) == [("crit", "firing"), ("crit2", "firing")]
    q = policy(Clock(), inhibit_rules=INHIBIT)
    q.add(alert("m", rule="model"))
    q.add(alert("r"))
    assert sent(q) == [("m", "firing")]


def test_silence_mutes_for_its_window_and_expires_by_itself(tmp_path: Path) -> None:
    clock = Clock()
    store = SilenceStore(tmp_path / "silences.json")
    store.add(
        ["line=L3", 'rule=~"nelson[2-4]"', "station!=weld-9"],
        T0,
        T0 + timedelta(minutes=30),
        created_by="anna",
        comment="tool change on weld-2",
        now=clock.now,
    )
    p = policy(clock, store)
    p.add(alert("silenced"))
    p.add(alert("other-rule", rule="nelson5"))
    p.add(alert("other-station", station="weld-9"))
    assert sent(p) == [("other-rule", "firing"), ("other-station", "firing")]
    clock.advance(29 * 60)
    assert sent(p) == []
    clock.advance(60)  # the silence ended at 08:30: its group tells it for the first time
    assert sent(p) == [("silenced", "firing")]


def test_silences_persist_atomically_and_expire_early(tmp_path: Path) -> None:
    path = tmp_path / "state" / "silences.json"
    store = SilenceStore(path)
    first = store.add(
        ["line=L3"], T0, T0 + timedelta(hours=1), created_by="anna", comment="a", now=T0
    )
    later = store.add(
        ["station=weld-2"],
        T0 + timedelta(hours=2),
        T0 + timedelta(hours=3),
        created_by="bo",
        comment="b",
        now=T0,
    )
    assert [p.name for p in path.parent.iterdir()] == ["silences.json"]  # no .tmp left
    saved = json.loads(path.read_text())
    assert saved["version"] == 1
    assert [
        (s["id"], s["matchers"], s["created_by"], s["starts_at"], s["ends_at"])
        for s in saved["silences"]
    ] == [
        (first.id, ["line=L3"], "anna", "2026-11-23T08:00:00Z", "2026-11-23T09:00:00Z"),
        (later.id, ["station=weld-2"], "bo", "2026-11-23T10:00:00Z", "2026-11-23T11:00:00Z"),
    ]
    again = SilenceStore(path)
    now = T0 + timedelta(minutes=10)
    assert [s.state(now) for s in again.all()] == ["active", "pending"]
    again.expire(first.id, now)
    again.expire(later.id, now)  # a pending one expired never mutes
    reread = SilenceStore(path)
    assert [(s.state(now), s.ends_at) for s in reread.all()] == [
        ("expired", now),
        ("expired", now),
    ]
    assert not reread.silenced(
        {"line": "L3", "station": "weld-2"}, T0 + timedelta(hours=2, minutes=30)
    )
    # Dropped from the file five days after they ended.
    week = now + timedelta(days=6)
    reread.add(["line=L4"], week, week + timedelta(hours=1), created_by="c", comment="", now=week)
    assert [s.matchers for s in SilenceStore(path).all()] == [["line=L4"]]


@pytest.mark.parametrize(
    ("matchers", "start", "end", "who", "message"),
    [
        ([], 0, 1, "anna", "a silence needs at least one matcher"),
        (["line"], 0, 1, "anna", "matcher 'line' is not name=value"),
        (["line=~("], 0, 1, "anna", "bad regex"),
        (["line=L3"], 1, 1, "anna", "is not after starts_at"),
        (["line=L3"], 0, 1, " ", "needs created_by"),
    ],
)
def test_bad_silences_are_refused_with_one_line(
    tmp_path: Path, matchers: list[str], start: int, end: int, who: str, message: str
) -> None:
    store = SilenceStore(tmp_path / "s.json")
    with pytest.raises(SilenceError, match=message.replace("(", r"\(")):
        store.add(
            matchers,
            T0 + timedelta(hours=start),
            T0 + timedelta(hours=end),
            created_by=who,
            comment="",
            now=T0,
        )
    assert not (tmp_path / "s.json").exists()


def test_a_broken_silences_file_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text("{not json")
    with pytest.raises(SilenceError, match=r"s\.json: not a silences file"):
        SilenceStore(path)
