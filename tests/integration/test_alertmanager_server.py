"""A real Alertmanager (built by scripts/alertmanager.sh) groups, notifies and resolves.

Two alerts posted as Prometheus posts them reach a webhook receiver on 127.0.0.1 as ONE
v4 notification; posted again with ``endsAt`` now they come back as one resolved
notification (``send_resolved``). Never skipped: without the binary the fixture fails
with the command that builds it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from linewatch.connectors.testing.alertmanager import (
    AlertmanagerServer,
    AlertmanagerServerError,
)
from linewatch.connectors.testing.servers import ServerError
from linewatch.connectors.testing.webhook import WebhookReceiver

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

NOTIFY_WITHIN_S = 30.0


def fingerprint(labels: dict[str, str]) -> str:
    """Alertmanager's alert fingerprint, independently: FNV-1a 64 over the sorted
    label names and values, each followed by the separator byte 0xff."""
    h = 0xCBF29CE484222325
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in part.encode() + b"\xff":
                h = ((h ^ byte) * 0x100000001B3) % 2**64
    return f"{h:016x}"


def rfc3339(ts: datetime) -> str:
    """Millisecond precision, as Prometheus sends (Go prints what it got back)."""
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_ms() -> datetime:
    """Now, cut to the millisecond: never in the future once sent."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def prometheus_alert(name: str, station: str, value: str, starts: datetime, ends: datetime) -> Any:
    return {
        "labels": {"alertname": name, "line": "weld-1", "station": station, "severity": "warning"},
        "annotations": {"summary": f"{station} out of control", "value": value},
        "startsAt": rfc3339(starts),
        "endsAt": rfc3339(ends),
        "generatorURL": f"http://linewatch.test/alerts/{station}",
    }


def notifications_for(hook: WebhookReceiver, name: str) -> list[dict[str, Any]]:
    bodies = [r.json() for r in hook.received if r.method == "POST"]
    return [b for b in bodies if b.get("groupLabels", {}).get("alertname") == name]


def wait_for_notification(
    hook: WebhookReceiver, name: str, status: str, deadline: float
) -> dict[str, Any]:
    while time.monotonic() < deadline:
        for body in notifications_for(hook, name):
            if body["status"] == status:
                return body
        time.sleep(0.1)
    got = [(b["status"], len(b["alerts"])) for b in notifications_for(hook, name)]
    raise AssertionError(f"no {status} notification for {name} in time; got {got}")


def test_two_alerts_arrive_grouped_then_resolved(
    alertmanager_server: AlertmanagerServer, alertmanager_webhook: WebhookReceiver
) -> None:
    began = time.monotonic()
    deadline = began + NOTIFY_WITHIN_S
    name = "LinewatchGroupedThenResolved"
    # Started now: an alert older than group_wait is flushed at once, alone.
    starts = now_ms()
    later = starts + timedelta(hours=1)
    alerts = [
        prometheus_alert(name, "S1", "12.5", starts, later),
        prometheus_alert(name, "S2", "-3", starts, later),
    ]
    alertmanager_server.post_alerts(alerts)

    firing = wait_for_notification(alertmanager_webhook, name, "firing", deadline)
    group_key = '{}:{alertname="' + name + '"}'
    assert {k: v for k, v in firing.items() if k != "alerts"} == {
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "webhook",
        "groupLabels": {"alertname": name},
        "commonLabels": {"alertname": name, "line": "weld-1", "severity": "warning"},
        "commonAnnotations": {},  # the two summaries differ
        "externalURL": alertmanager_server.url,
        "routeLabels": {},
        "notification_reason": "first notification",
    }
    by_station = {a["labels"]["station"]: a for a in firing["alerts"]}
    assert sorted(by_station) == ["S1", "S2"]  # both in ONE notification
    for sent in alerts:
        got = by_station[sent["labels"]["station"]]
        assert got["status"] == "firing"
        assert got["labels"] == sent["labels"]
        assert got["annotations"] == sent["annotations"]
        # Go prints the fraction without trailing zeros (.780 -> .78): compare the times.
        assert datetime.fromisoformat(got["startsAt"]) == datetime.fromisoformat(sent["startsAt"])
        assert got["generatorURL"] == sent["generatorURL"]
        assert got["fingerprint"] == fingerprint(sent["labels"])

    # Resolved as Prometheus resolves: endsAt not after now (a later endsAt would only
    # shorten a firing alert's lease, and Alertmanager keeps the longer one).
    ended = now_ms()
    for alert in alerts:
        alert["endsAt"] = rfc3339(ended)
    alertmanager_server.post_alerts(alerts)

    resolved = wait_for_notification(alertmanager_webhook, name, "resolved", deadline)
    assert resolved["version"] == "4"
    assert resolved["groupKey"] == group_key
    assert sorted((a["labels"]["station"], a["status"]) for a in resolved["alerts"]) == [
        ("S1", "resolved"),
        ("S2", "resolved"),
    ]
    # Go prints RFC 3339 with trailing zeros of the fraction dropped (".370" -> ".37").
    assert {datetime.fromisoformat(a["endsAt"]) for a in resolved["alerts"]} == {ended}
    # One firing and one resolved notification: grouped, not one per alert.
    assert [b["status"] for b in notifications_for(alertmanager_webhook, name)] == [
        "firing",
        "resolved",
    ]
    posts = [r for r in alertmanager_webhook.received if name in r.body.decode()]
    assert [(r.method, r.headers["Content-Type"]) for r in posts] == [
        ("POST", "application/json"),
        ("POST", "application/json"),
    ]
    assert time.monotonic() - began < NOTIFY_WITHIN_S


def test_a_missing_binary_fails_with_the_install_command(tmp_path: Any) -> None:
    server = AlertmanagerServer(tmp_path / "am", binary=tmp_path / "no-such-alertmanager")
    with pytest.raises(AlertmanagerServerError) as caught:
        server.start()
    assert isinstance(caught.value, ServerError)
    assert str(caught.value) == (
        f"{tmp_path / 'no-such-alertmanager'} not found: run `bash scripts/alertmanager.sh install`"
    )
