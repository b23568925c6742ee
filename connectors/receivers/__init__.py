"""Notification receivers: webhook (Alertmanager v4), Slack, WeCom, DingTalk, Feishu, e-mail,
Alertmanager push; their texts; and spooled at-least-once delivery.

They take a :class:`~linewatch.pipeline.models.Notification` and know nothing of policy.
"""

from linewatch.connectors.receivers.alertmanager import AlertmanagerPusher, AlertmanagerReceiver
from linewatch.connectors.receivers.base import DeliveryError, HttpReceiver, HttpRequest, Receiver
from linewatch.connectors.receivers.chat import (
    DingTalkReceiver,
    FeishuReceiver,
    SlackReceiver,
    WeComReceiver,
)
from linewatch.connectors.receivers.delivery import Backoff, Delivery
from linewatch.connectors.receivers.email import EmailReceiver
from linewatch.connectors.receivers.text import Texts
from linewatch.connectors.receivers.webhook import WebhookReceiver

__all__ = [
    "AlertmanagerPusher",
    "AlertmanagerReceiver",
    "Backoff",
    "Delivery",
    "DeliveryError",
    "DingTalkReceiver",
    "EmailReceiver",
    "FeishuReceiver",
    "HttpReceiver",
    "HttpRequest",
    "Receiver",
    "SlackReceiver",
    "Texts",
    "WeComReceiver",
    "WebhookReceiver",
]
