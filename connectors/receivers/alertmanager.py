"""Push alerts to a real Alertmanager as Prometheus does: ``POST /api/v2/alerts``.

Alertmanager groups, silences and routes them itself, so this side does not group: every
``resend_interval`` all firing alerts are posted again with ``endsAt`` four intervals ahead
(Alertmanager resolves an alert that stops coming), and a resolved alert is posted once
with its ``endsAt``.

>>> from datetime import datetime, timedelta, timezone
>>> from linewatch.pipeline.models import Alert
>>> now = [datetime(2026, 11, 23, 8, tzinfo=timezone.utc)]
>>> pusher = AlertmanagerPusher("am", resend_interval=60, clock=lambda: now[0])
>>> t = now[0]
>>> a = Alert(alert_id="f-1", fingerprint="f", status="firing", ts=t, starts_at=t,
...     ends_at=None, line="L3", station="s", characteristic="c", chart="individuals",
...     rule="nelson1", severity="critical", value=1.0, cl=0.0, ucl=0.5, lcl=-0.5, message="m")
>>> pusher.add(a)
>>> [[x.status for x in n.alerts] for n in pusher.due()]
[['firing']]
>>> pusher.due(), pusher.next_due() == t + timedelta(seconds=60)
([], True)
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import msgspec

from linewatch.connectors.receivers.base import HttpReceiver, HttpRequest, go_time
from linewatch.connectors.receivers.webhook import generator_url
from linewatch.pipeline.models import Alert, Notification, alert_annotations, alert_labels

__all__ = ["AlertmanagerPusher", "AlertmanagerReceiver"]

#: Prometheus sets a firing alert's endsAt this many resend intervals ahead.
_VALID_FOR = 4


class AlertmanagerPusher:
    """Keeps the firing alerts and says when a push is due (processing-time ``clock``)."""

    def __init__(
        self, receiver: str, *, resend_interval: float, clock: Callable[[], datetime]
    ) -> None:
        self.receiver = receiver
        self.resend = timedelta(seconds=resend_interval)
        self.clock = clock
        self._firing: dict[str, Alert] = {}
        self._resolved: dict[str, Alert] = {}
        self._changed = False
        self._last: datetime | None = None

    def add(self, alert: Alert) -> None:
        if alert.status == "firing":
            self._firing[alert.fingerprint] = alert
            self._resolved.pop(alert.fingerprint, None)
        else:
            self._firing.pop(alert.fingerprint, None)
            self._resolved[alert.fingerprint] = alert
        self._changed = True

    def next_due(self) -> datetime | None:
        if self._changed:
            return self.clock()
        if self._firing and self._last is not None:
            return self._last + self.resend
        return None

    def due(self) -> list[Notification]:
        """One push when something changed or the resend interval passed, else nothing."""
        now = self.clock()
        when = self.next_due()
        if when is None or when > now:
            return []
        alerts = [*self._firing.values(), *self._resolved.values()]
        self._resolved.clear()
        self._changed = False
        self._last = now
        content = "\n".join(sorted(f"{a.alert_id}:{a.status}" for a in alerts))
        digest = hashlib.sha256(f"{content}\n{now.isoformat()}".encode()).hexdigest()[:16]
        return [
            Notification(
                key=f"{self.receiver}:push:{digest}",
                receiver=self.receiver,
                status="firing" if self._firing else "resolved",
                group_key="push",
                group_labels={},
                common_labels={},
                common_annotations={},
                alerts=alerts,
                created_at=now,
            )
        ]


def alertmanager_v2_alerts(
    notification: Notification, external_url: str, valid_for: timedelta
) -> list[dict[str, Any]]:
    """The postableAlerts body; a firing alert is valid until ``created_at + valid_for``."""
    return [
        {
            "labels": alert_labels(alert),
            "annotations": alert_annotations(alert),
            "startsAt": go_time(alert.starts_at),
            "endsAt": go_time(
                alert.ends_at
                if alert.status == "resolved" and alert.ends_at is not None
                else notification.created_at + valid_for
            ),
            "generatorURL": generator_url(external_url, alert),
        }
        for alert in notification.alerts
    ]


class AlertmanagerReceiver(HttpReceiver):
    def __init__(
        self,
        name: str,
        url: str,
        *,
        external_url: str,
        resend_interval: float = 60.0,
        timeout_s: float = 10.0,
    ) -> None:
        self.name = name
        self.url = url.rstrip("/") + "/api/v2/alerts"
        self.external_url = external_url
        self.valid_for = timedelta(seconds=resend_interval * _VALID_FOR)
        self.timeout_s = timeout_s

    def request(self, notification: Notification, now: datetime) -> HttpRequest:
        body = alertmanager_v2_alerts(notification, self.external_url, self.valid_for)
        return HttpRequest(self.url, msgspec.json.encode(body))
