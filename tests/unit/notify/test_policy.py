"""Grouping and timing with Alertmanager's semantics, under a clock the test moves."""

from __future__ import annotations

from typing import Any

from linewatch.pipeline.models import Notification
from linewatch.pipeline.notify.config import NotificationsConfig
from linewatch.pipeline.notify.policy import NotificationPolicy

from .alerts import Clock, alert, resolved


def policy(clock: Clock, route: dict[str, Any], **receiver: Any) -> NotificationPolicy:
    config = NotificationsConfig.model_validate(
        {
            "receivers": [
                {"name": "ops", "type": "webhook", "url": "http://127.0.0.1:9/", **receiver}
            ],
            "route": {"receiver": "ops", **route},
        }
    )
    return NotificationPolicy(config, clock=clock)


def summary(notes: list[Notification]) -> list[tuple[str, str, list[tuple[str, str]]]]:
    return [(n.group_key, n.status, [(a.fingerprint, a.status) for a in n.alerts]) for n in notes]


TIMING = {"group_by": ["line"], "group_wait": 30, "group_interval": 300, "repeat_interval": 3600}


def test_group_wait_collects_alerts_into_one_notification() -> None:
    clock = Clock()
    p = policy(clock, TIMING)
    p.add(alert("a"))
    clock.advance(10)
    p.add(alert("b", station="weld-3"))
    p.add(alert("c", line="L4"))
    clock.advance(19)  # 29 s after the first alert of L3
    assert p.due() == []
    assert p.next_due() == clock.now.replace(second=30)
    clock.advance(1)
    notes = p.due()
    assert summary(notes) == [('{}:{line="L3"}', "firing", [("a", "firing"), ("b", "firing")])]
    assert notes[0].group_labels == {"line": "L3"}
    assert notes[0].common_labels == {
        "alertname": "nelson2",
        "line": "L3",
        "characteristic": "nugget_dia_mm",
        "chart": "individuals",
        "rule": "nelson2",
        "severity": "warning",
    }
    clock.advance(10)  # L4's group started 10 s after L3's
    assert summary(p.due()) == [('{}:{line="L4"}', "firing", [("c", "firing")])]


def test_group_interval_sends_new_alerts_and_repeat_interval_repeats() -> None:
    clock = Clock()
    p = policy(clock, TIMING)
    p.add(alert("a"))
    clock.advance(30)
    assert len(p.due()) == 1
    clock.advance(100)
    p.add(alert("b", station="weld-3"))
    clock.advance(199)  # 299 s after the first flush: not yet
    assert p.due() == []
    clock.advance(1)
    first = p.due()
    assert summary(first) == [('{}:{line="L3"}', "firing", [("a", "firing"), ("b", "firing")])]
    # Nothing changes: the next looks are silent until repeat_interval (3600 s) since the last.
    sent: list[float] = []
    for _ in range(12):
        clock.advance(300)
        if p.due():
            sent.append((clock.now - first[0].created_at).total_seconds())
    assert sent == [3600.0]


def test_resolve_is_sent_with_send_resolved_and_the_group_ends() -> None:
    clock = Clock()
    p = policy(clock, TIMING)
    a, b = alert("a"), alert("b", station="weld-3")
    p.add(a)
    p.add(b)
    clock.advance(30)
    p.due()
    clock.advance(60)
    p.add(resolved(a, clock.now))
    clock.advance(240)
    assert summary(p.due()) == [('{}:{line="L3"}', "firing", [("a", "resolved"), ("b", "firing")])]
    p.add(resolved(b, clock.now))
    clock.advance(300)
    assert summary(p.due()) == [('{}:{line="L3"}', "resolved", [("b", "resolved")])]
    assert p.next_due() is None  # the empty group is gone


def test_without_send_resolved_only_the_all_clear_is_remembered() -> None:
    clock = Clock()
    p = policy(clock, TIMING, send_resolved=False)
    a, b = alert("a"), alert("b", station="weld-3")
    p.add(a)
    p.add(b)
    clock.advance(30)
    p.due()
    p.add(resolved(a, clock.now))
    clock.advance(300)
    assert p.due() == []  # firing shrank: nothing new to say
    p.add(resolved(b, clock.now))
    clock.advance(300)
    assert p.due() == []  # all resolved, and the receiver takes no resolved notifications


def test_alert_fired_and_resolved_before_the_first_look_is_never_sent() -> None:
    clock = Clock()
    p = policy(clock, TIMING)
    a = alert("a")
    p.add(a)
    clock.advance(10)
    p.add(resolved(a, clock.now))
    clock.advance(20)
    assert p.due() == []
    assert p.next_due() is None


def test_group_by_all_labels_and_truncation() -> None:
    clock = Clock()
    p = policy(clock, {"group_by": ["..."], "group_wait": 0}, max_alerts=2)
    p.add(alert("a"))
    p.add(alert("a2"))  # same labels as a: same group
    p.add(alert("b", rule="nelson5"))
    notes = p.due()
    assert [(n.group_labels["rule"], len(n.alerts), n.truncated) for n in notes] == [
        ("nelson2", 2, 0),
        ("nelson5", 1, 0),
    ]
    clock2 = Clock()
    q = policy(clock2, {"group_by": ["line"], "group_wait": 0}, max_alerts=2)
    for name in ("a", "b", "c", "d"):
        q.add(alert(name, station=f"st-{name}"))
    (note,) = q.due()
    assert ([a.fingerprint for a in note.alerts], note.truncated) == (["a", "b"], 2)


def test_idempotency_keys_differ_per_notification_and_repeat_the_same_on_resend() -> None:
    clock = Clock()
    p = policy(clock, TIMING)
    p.add(alert("a"))
    clock.advance(30)
    keys = [n.key for n in p.due()]
    clock.advance(3600)
    keys += [n.key for n in p.due()]
    clock.advance(3600)
    keys += [n.key for n in p.due()]
    assert len(keys) == 3 and len(set(keys)) == 3
    assert keys[1] == keys[0] + ":r1" and keys[2] == keys[0] + ":r2"


def test_acknowledged_alert_stops_repeating_but_a_new_one_notifies() -> None:
    clock = Clock()
    p = policy(clock, TIMING)
    p.add(alert("a"))
    clock.advance(30)
    p.due()
    p.acknowledge("a")
    clock.advance(3600)
    assert p.due() == []
    p.add(alert("b", station="weld-3"))
    clock.advance(300)
    assert summary(p.due()) == [('{}:{line="L3"}', "firing", [("a", "firing"), ("b", "firing")])]


def test_processing_time_not_event_time_drives_the_wait() -> None:
    # A phase-I alert stamped hours back still waits group_wait from when it arrived.
    clock = Clock()
    p = policy(clock, TIMING)
    old = alert("a", at=clock.now.replace(hour=2))
    p.add(old)
    assert p.due() == []
    clock.advance(30)
    assert [n.alerts[0].starts_at.hour for n in p.due()] == [2]


def test_snapshot_and_restore_keep_what_receivers_were_told() -> None:
    import json

    clock = Clock()
    p = policy(clock, TIMING)
    p.add(alert("a"))
    clock.advance(30)
    (first,) = p.due()
    p.add(alert("b", station="weld-3"))
    state = json.loads(json.dumps(p.snapshot()))
    restarted = policy(clock, TIMING)
    restarted.restore(state)
    clock.advance(300)
    (second,) = restarted.due()  # only b is new: one notification, not a repeat of a alone
    assert [a.fingerprint for a in second.alerts] == ["a", "b"]
    assert second.key.endswith(":r1") and second.key != first.key
    clock.advance(300)
    assert restarted.due() == []
