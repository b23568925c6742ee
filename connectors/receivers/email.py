"""E-mail over SMTP (``smtplib``): plain text with an HTML alternative, optional STARTTLS.

The idempotency key becomes the ``Message-ID`` (and ``X-Linewatch-Idempotency-Key``), so
a mail re-sent after a crash is recognisably the same mail.
"""

from __future__ import annotations

import asyncio
import hashlib
import smtplib
import ssl
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

import httpx

from linewatch.connectors.receivers.base import DeliveryError
from linewatch.connectors.receivers.text import Texts
from linewatch.pipeline.models import Notification

__all__ = ["EmailReceiver"]


class EmailReceiver:
    def __init__(
        self,
        name: str,
        *,
        texts: Texts,
        external_url: str,
        sender: str,
        to: list[str],
        host: str,
        port: int = 25,
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 10.0,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.name = name
        self.texts = texts
        self.external_url = external_url
        self.sender = sender
        self.to = list(to)
        self.host = host
        self.port = port
        self.starttls = starttls
        self.username = username
        self._password = password
        self.timeout_s = timeout_s
        self.tls_context = tls_context

    def __repr__(self) -> str:
        return f"EmailReceiver({self.name!r}, {self.host}:{self.port}, to={self.to})"

    def message(self, notification: Notification, now: datetime) -> EmailMessage:
        mail = EmailMessage()
        mail["Subject"] = self.texts.title(notification)
        mail["From"] = self.sender
        mail["To"] = ", ".join(self.to)
        mail["Date"] = format_datetime(now)
        digest = hashlib.sha256(notification.key.encode()).hexdigest()[:32]
        mail["Message-ID"] = f"<{digest}@linewatch>"
        mail["X-Linewatch-Idempotency-Key"] = notification.key
        text = "\n".join(
            [
                self.texts.title(notification),
                "",
                *self.texts.lines(notification),
                "",
                self.external_url,
            ]
        )
        mail.set_content(text + "\n")
        mail.add_alternative(self.texts.html(notification, self.external_url), subtype="html")
        return mail

    def _send(self, mail: EmailMessage) -> None:
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                if self.starttls:
                    smtp.starttls(context=self.tls_context or ssl.create_default_context())
                if self.username is not None:
                    smtp.login(self.username, self._password or "")
                smtp.send_message(mail)
        except smtplib.SMTPResponseException as exc:
            retryable = exc.smtp_code >= 400 and exc.smtp_code < 500
            raise DeliveryError(f"{self.name}: SMTP {exc.smtp_code}", retryable=retryable) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"{self.name}: {type(exc).__name__}", retryable=True) from None

    async def deliver(
        self, notification: Notification, client: httpx.AsyncClient, now: datetime
    ) -> None:
        await asyncio.to_thread(self._send, self.message(notification, now))
