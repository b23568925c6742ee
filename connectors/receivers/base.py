"""What every receiver shares: the request it builds, how it fails, Go's time format.

A receiver turns a :class:`~linewatch.pipeline.models.Notification` into one delivery.
HTTP receivers only build an :class:`HttpRequest` (so tests can check bytes exactly);
:class:`HttpReceiver.deliver` sends it with ``Idempotency-Key`` and judges the answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import httpx

from linewatch.pipeline.models import Notification

__all__ = [
    "DeliveryError",
    "HttpReceiver",
    "HttpRequest",
    "Receiver",
    "go_time",
]

#: Alertmanager's ``endsAt`` of an alert that has not ended (Go's zero time).
GO_ZERO_TIME = "0001-01-01T00:00:00Z"


def go_time(at: datetime | None) -> str:
    """RFC 3339 with trailing zeros of the fraction dropped, as Go's ``RFC3339Nano``.

    >>> from datetime import datetime, timezone
    >>> go_time(datetime(2026, 11, 23, 8, 0, 0, 125000, tzinfo=timezone.utc))
    '2026-11-23T08:00:00.125Z'
    >>> go_time(datetime(2026, 11, 23, 8, tzinfo=timezone.utc)), go_time(None)
    ('2026-11-23T08:00:00Z', '0001-01-01T00:00:00Z')
    """
    if at is None:
        return GO_ZERO_TIME
    utc = at.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


class DeliveryError(RuntimeError):
    """A delivery failed; ``retryable`` says whether trying again can help.

    Messages never hold a URL or a secret: only the receiver's name and what went wrong.
    """

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True, slots=True)
class HttpRequest:
    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class Receiver(Protocol):
    name: str

    async def deliver(
        self, notification: Notification, client: httpx.AsyncClient, now: datetime
    ) -> None:
        """Deliver once or raise :class:`DeliveryError`."""
        ...


class HttpReceiver:
    """Base of the receivers that POST JSON: subclasses build the request and judge JSON."""

    name: str
    timeout_s: float = 10.0

    def request(self, notification: Notification, now: datetime) -> HttpRequest:
        raise NotImplementedError

    def check(self, response: httpx.Response) -> None:
        """Raise :class:`DeliveryError` if the answer is a failure (default: status only)."""
        status = response.status_code
        if 200 <= status < 300:
            return
        retryable = status >= 500 or status in (408, 425, 429)
        raise DeliveryError(f"{self.name}: HTTP {status}", retryable=retryable)

    async def deliver(
        self, notification: Notification, client: httpx.AsyncClient, now: datetime
    ) -> None:
        built = self.request(notification, now)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Linewatch",
            "Idempotency-Key": notification.key,
            **built.headers,
        }
        try:
            response = await client.post(
                built.url, content=built.body, headers=headers, timeout=self.timeout_s
            )
        except httpx.HTTPError as exc:
            # The exception's text may quote the URL (tokens live there): name its type only.
            raise DeliveryError(f"{self.name}: {type(exc).__name__}", retryable=True) from None
        self.check(response)


def json_errcode(receiver: str, response: httpx.Response, *fields: str) -> None:
    """Chat robots answer HTTP 200 with an error code in the body; 0 means delivered."""
    try:
        answer = response.json()
    except ValueError:
        raise DeliveryError(f"{receiver}: answer is not JSON", retryable=True) from None
    for name in fields:
        if isinstance(answer, dict) and name in answer:
            code = answer[name]
            if code not in (0, "0"):
                message = str(answer.get("errmsg") or answer.get("msg") or "")[:200]
                # Rate limits (DingTalk 130101, Feishu 9499, WeCom 45009) pass with time.
                retryable = code in (130101, 9499, 11232, 45009, -1)
                raise DeliveryError(f"{receiver}: error {code} {message}", retryable=retryable)
            return
