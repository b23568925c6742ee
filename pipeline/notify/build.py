"""From the ``notifications:`` config to running parts: receivers, policy, pushers, delivery.

Secrets are read from the environment here, once; a missing variable is a one-line error
naming the receiver and the variable.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from datetime import datetime

from linewatch.connectors.receivers import (
    AlertmanagerPusher,
    AlertmanagerReceiver,
    Backoff,
    Delivery,
    DingTalkReceiver,
    EmailReceiver,
    FeishuReceiver,
    Receiver,
    SlackReceiver,
    Texts,
    WebhookReceiver,
    WeComReceiver,
)
from linewatch.connectors.spool import Spool
from linewatch.pipeline.notify.config import (
    AlertmanagerReceiverConfig,
    DingTalkReceiverConfig,
    EmailReceiverConfig,
    FeishuReceiverConfig,
    NotificationsConfig,
    ReceiverConfig,
    SlackReceiverConfig,
    WebhookReceiverConfig,
    WeComReceiverConfig,
)

__all__ = ["NotifyConfigError", "build_delivery", "build_pushers", "build_receivers"]


class NotifyConfigError(ValueError):
    """A receiver that cannot be built (a secret's variable unset...); one line."""


def _env(env: Mapping[str, str], receiver: str, variable: str | None) -> str | None:
    if variable is None:
        return None
    value = env.get(variable)
    if not value:
        raise NotifyConfigError(
            f"notifications.receivers[{receiver}]: environment variable {variable} is not set"
        )
    return value


def _required(env: Mapping[str, str], receiver: str, variable: str) -> str:
    value = _env(env, receiver, variable)
    assert value is not None
    return value


def build_receiver(
    config: ReceiverConfig, notifications: NotificationsConfig, env: Mapping[str, str]
) -> Receiver:
    external = notifications.external_url
    texts = Texts(config.language, notifications.time_zone, config.templates_dir)
    name, timeout = config.name, config.timeout_s
    if isinstance(config, WebhookReceiverConfig):
        secret = _env(env, name, config.secret_env)
        return WebhookReceiver(
            name, config.url, external_url=external, secret=secret, timeout_s=timeout
        )
    if isinstance(config, SlackReceiverConfig | WeComReceiverConfig):
        kind = SlackReceiver if isinstance(config, SlackReceiverConfig) else WeComReceiver
        url = _required(env, name, config.url_env)
        return kind(name, url, texts=texts, external_url=external, timeout_s=timeout)
    if isinstance(config, DingTalkReceiverConfig | FeishuReceiverConfig):
        signed = DingTalkReceiver if isinstance(config, DingTalkReceiverConfig) else FeishuReceiver
        url = _required(env, name, config.url_env)
        secret = _env(env, name, config.secret_env)
        return signed(
            name, url, texts=texts, external_url=external, secret=secret, timeout_s=timeout
        )
    if isinstance(config, EmailReceiverConfig):
        return EmailReceiver(
            name,
            texts=texts,
            external_url=external,
            sender=config.sender,
            to=config.to,
            host=config.smtp_host,
            port=config.smtp_port,
            starttls=config.starttls,
            username=config.username,
            password=_env(env, name, config.password_env),
            timeout_s=timeout,
        )
    assert isinstance(config, AlertmanagerReceiverConfig)
    return AlertmanagerReceiver(
        name,
        config.url,
        external_url=external,
        resend_interval=config.resend_interval,
        timeout_s=timeout,
    )


def build_receivers(config: NotificationsConfig, env: Mapping[str, str]) -> dict[str, Receiver]:
    """Every configured receiver by name (``env`` is usually ``os.environ``)."""
    return {r.name: build_receiver(r, config, env) for r in config.receivers}


def build_pushers(
    config: NotificationsConfig, clock: Callable[[], datetime]
) -> list[AlertmanagerPusher]:
    """One pusher per ``alertmanager`` receiver: feed it every alert, submit what it makes due."""
    return [
        AlertmanagerPusher(r.name, resend_interval=r.resend_interval, clock=clock)
        for r in config.receivers
        if isinstance(r, AlertmanagerReceiverConfig)
    ]


def build_delivery(
    config: NotificationsConfig,
    receivers: Mapping[str, Receiver],
    clock: Callable[[], datetime],
    rng: random.Random | None = None,
) -> Delivery:
    d = config.delivery
    spool = Spool(
        d.spool_dir, max_bytes=d.spool_max_bytes, suffix=".notification", label="notify spool"
    )
    backoff = Backoff(d.backoff_initial_s, d.backoff_max_s, d.backoff_factor, d.jitter)
    return Delivery(spool, receivers, clock=clock, backoff=backoff, rng=rng)
