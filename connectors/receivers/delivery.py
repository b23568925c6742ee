"""At-least-once delivery of notifications: a durable spool, retries with backoff and jitter.

:meth:`Delivery.submit` stores the notification in the :class:`~linewatch.connectors.spool.Spool`
(fsynced) under its idempotency key before anything is sent, so a receiver outage or a
crash loses nothing: a new :class:`Delivery` on the same folder sends what was not
acknowledged, with the same ``Idempotency-Key``, and a receiver can drop the duplicate.
What the spool holds is the notification itself, never a rendered request: signed URLs
are signed at sending time and no secret reaches the disk.

Each receiver's notifications go in order; one that fails waits ``backoff`` (exponential,
with jitter drawn from the given ``random.Random``), and holds back the later ones of the
same receiver, not the others. A permanent refusal (HTTP 4xx other than 408/425/429, or
an SMTP 5xx) is not retried: it is written to ``<spool root>/rejected/`` with the reason
and logged, never dropped silently.

Logs name the receiver and the key, never a URL or a secret; :func:`redact_http_logs`
keeps httpx's own request log from printing URLs (robot tokens and signatures live there).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import msgspec

from linewatch.connectors.receivers.base import DeliveryError, Receiver
from linewatch.connectors.spool import Spool, SpoolCorrupt
from linewatch.pipeline.models import Notification

__all__ = ["Backoff", "Delivery", "redact_http_logs"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Backoff:
    """``initial * factor**n`` capped at ``maximum``, less up to ``jitter`` of it at random.

    >>> b = Backoff(initial=1.0, maximum=10.0, factor=2.0, jitter=0.0)
    >>> [b.delay(n, random.Random(0)) for n in range(5)]
    [1.0, 2.0, 4.0, 8.0, 10.0]
    >>> round(Backoff(jitter=0.5).delay(3, random.Random(7)), 3)
    6.705
    """

    initial: float = 1.0
    maximum: float = 300.0
    factor: float = 2.0
    jitter: float = 0.5

    def delay(self, failures: int, rng: random.Random) -> float:
        base = min(self.maximum, self.initial * self.factor**failures)
        return base * (1.0 - self.jitter * rng.random())


class _RedactUrls(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                f"{a.scheme}://{a.host}/<redacted>" if isinstance(a, httpx.URL) else a
                for a in record.args
            )
        return True


_REDACTOR = _RedactUrls()


def redact_http_logs() -> None:
    """httpx logs every request's full URL at INFO: show scheme and host only."""
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if _REDACTOR not in logger.filters:
            logger.addFilter(_REDACTOR)


@dataclass(slots=True)
class _Retry:
    failures: int
    not_before: datetime


class Delivery:
    """Sends spooled notifications to their receivers; ``clock`` is processing time."""

    def __init__(
        self,
        spool: Spool,
        receivers: Mapping[str, Receiver],
        *,
        clock: Callable[[], datetime],
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        redact_http_logs()
        self.spool = spool
        self.receivers = dict(receivers)
        self.clock = clock
        self.backoff = backoff or Backoff()
        self.rng = rng or random.Random()
        self._client = client
        self._own_client = client is None
        self._retries: dict[str, _Retry] = {}
        self.delivered = 0
        self.rejected = 0

    def submit(self, notification: Notification, *, sync: bool = True) -> bool:
        """Store durably for sending; ``False`` if that key is pending or was delivered.

        ``sync=False``: durable only after :meth:`sync` (many submits, one directory fsync).
        """
        if notification.receiver not in self.receivers:
            raise ValueError(f"notification for unknown receiver {notification.receiver!r}")
        return self.spool.append(
            msgspec.json.encode(notification),
            key=notification.key,
            meta={"receiver": notification.receiver},
            sync=sync,
        )

    def sync(self) -> None:
        """Make the submits made with ``sync=False`` durable."""
        self.spool.sync()

    @property
    def pending(self) -> int:
        return len(self.spool)

    def next_attempt(self) -> datetime | None:
        """When :meth:`send_due` can next do something: each receiver's oldest entry decides."""
        now = self.clock()
        firsts: dict[str, datetime] = {}
        for entry in self.spool:
            receiver = str(entry.meta.get("receiver", ""))
            if receiver not in firsts:
                retry = self._retries.get(entry.key)
                firsts[receiver] = now if retry is None else retry.not_before
        return min(firsts.values(), default=None)

    async def send_due(self) -> int:
        """Try every entry whose time came, oldest first per receiver; the number delivered.

        The acknowledgements of one call are fsynced once, at its end: a crash before that
        sends those again, with the same idempotency keys.
        """
        try:
            return await self._send_due()
        finally:
            self.spool.sync()

    async def _send_due(self) -> int:
        client = self._client
        if client is None:
            client = self._client = httpx.AsyncClient()
        now = self.clock()
        blocked: set[str] = set()
        sent = 0
        for entry in self.spool:
            receiver_name = str(entry.meta.get("receiver", ""))
            if receiver_name in blocked:
                continue
            retry = self._retries.get(entry.key)
            if retry is not None and retry.not_before > now:
                blocked.add(receiver_name)
                continue
            try:
                notification = msgspec.json.decode(self.spool.read(entry), type=Notification)
            except (SpoolCorrupt, msgspec.DecodeError) as exc:
                log.error("notification %s is unreadable and was set aside: %s", entry.key, exc)
                continue
            receiver = self.receivers.get(receiver_name)
            if receiver is None:
                self._reject(
                    entry.key, notification, f"receiver {receiver_name!r} is not configured"
                )
                continue
            try:
                await receiver.deliver(notification, client, self.clock())
            except DeliveryError as exc:
                if not exc.retryable:
                    self._reject(entry.key, notification, str(exc))
                    continue
                failures = retry.failures + 1 if retry else 1
                wait = self.backoff.delay(failures - 1, self.rng)
                self._retries[entry.key] = _Retry(failures, now + timedelta(seconds=wait))
                blocked.add(receiver_name)
                log.warning(
                    "notification %s not delivered (%s), attempt %d; next in %.1f s",
                    entry.key,
                    exc,
                    failures,
                    wait,
                )
                continue
            self.spool.ack(entry, sync=False)
            self._retries.pop(entry.key, None)
            sent += 1
            self.delivered += 1
            log.debug("notification %s delivered to %s", entry.key, receiver_name)
        return sent

    def _reject(self, key: str, notification: Notification, reason: str) -> None:
        folder = Path(self.spool.root) / "rejected"
        folder.mkdir(exist_ok=True)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in key)
        record = {"reason": reason, "notification": msgspec.to_builtins(notification)}
        (folder / f"{safe}.json").write_bytes(msgspec.json.encode(record))
        self.spool.ack(key)
        self._retries.pop(key, None)
        self.rejected += 1
        log.error("notification %s refused for good (%s); kept in %s", key, reason, folder)

    async def aclose(self) -> None:
        """Close the HTTP client (if this object made it) and the spool."""
        if self._client is not None and self._own_client:
            await self._client.aclose()
        self._client = None
        self.spool.close()
