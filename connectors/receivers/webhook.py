"""The generic webhook: Alertmanager's version-4 body, signed with HMAC-SHA256.

Tools that take Alertmanager webhooks take this body unchanged. With a secret, the
header ``X-Linewatch-Signature: sha256=<hex>`` is HMAC-SHA256 of the exact body bytes, so
the receiver can check the body came from whoever holds the secret.

>>> from datetime import datetime, timezone
>>> signature(b'{"version":"4"}', "s3cret")
'sha256=afa6c091d9d41c83d3deb28420d4e0e40b2c2d4c81a8a9f4364255fe6a69f15a'
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any

import msgspec

from linewatch.connectors.receivers.base import HttpReceiver, HttpRequest, go_time
from linewatch.pipeline.models import Alert, Notification, alert_annotations, alert_labels

__all__ = [
    "SIGNATURE_HEADER",
    "WebhookReceiver",
    "alertmanager_v4_body",
    "generator_url",
    "signature",
]

SIGNATURE_HEADER = "X-Linewatch-Signature"


def signature(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def generator_url(external_url: str, alert: Alert) -> str:
    return f"{external_url.rstrip('/')}/alerts/{alert.fingerprint}"


def alertmanager_v4_body(notification: Notification, external_url: str) -> dict[str, Any]:
    """The JSON object Alertmanager's webhook notifier posts (version 4)."""
    return {
        "receiver": notification.receiver,
        "status": notification.status,
        "alerts": [
            {
                "status": alert.status,
                "labels": alert_labels(alert),
                "annotations": alert_annotations(alert),
                "startsAt": go_time(alert.starts_at),
                "endsAt": go_time(alert.ends_at if alert.status == "resolved" else None),
                "generatorURL": generator_url(external_url, alert),
                "fingerprint": alert.fingerprint,
            }
            for alert in notification.alerts
        ],
        "groupLabels": notification.group_labels,
        "commonLabels": notification.common_labels,
        "commonAnnotations": notification.common_annotations,
        "externalURL": external_url,
        "version": "4",
        "groupKey": notification.group_key,
        "truncatedAlerts": notification.truncated,
    }


class WebhookReceiver(HttpReceiver):
    def __init__(
        self,
        name: str,
        url: str,
        *,
        external_url: str,
        secret: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.name = name
        self.url = url
        self.external_url = external_url
        self._secret = secret
        self.timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"WebhookReceiver({self.name!r}, signed={self._secret is not None})"

    def request(self, notification: Notification, now: datetime) -> HttpRequest:
        body = msgspec.json.encode(alertmanager_v4_body(notification, self.external_url))
        headers = {}
        if self._secret:
            headers[SIGNATURE_HEADER] = signature(body, self._secret)
        return HttpRequest(self.url, body, headers)
