"""Chat robots: Slack incoming webhook, WeCom (企业微信) and DingTalk robots, Feishu/Lark bot.

The URLs hold the robot's token, and DingTalk/Feishu sign with a secret: none of them is
ever logged (see ``delivery``). Signatures follow the vendors' documentation:

* DingTalk: ``sign = urlencode(base64(HMAC-SHA256(key=secret, msg=f"{ms}\\n{secret}")))``
  appended to the URL with ``timestamp`` (milliseconds).
* Feishu: ``sign = base64(HMAC-SHA256(key=f"{s}\\n{secret}", msg=b""))`` in the body with
  ``timestamp`` (seconds, as a string).

>>> dingtalk_sign(1764576000000, "SECabc")
'rHscjMSWwRN8kMR70GVxJzj5kxdiCPQl33bBwCiyxo8%3D'
>>> feishu_sign(1764576000, "abc")
'C46cGUTFVRQ7mgPRpf12Mx68kLQ54go0Sfi/wkpElH0='
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse
from datetime import datetime
from typing import Any

import httpx
import msgspec

from linewatch.connectors.receivers.base import HttpReceiver, HttpRequest, json_errcode
from linewatch.connectors.receivers.text import Texts
from linewatch.pipeline.models import Notification

__all__ = [
    "DingTalkReceiver",
    "FeishuReceiver",
    "SlackReceiver",
    "WeComReceiver",
    "dingtalk_sign",
    "feishu_sign",
]

_SLACK_BLOCKS = 50  # Slack's limit per message
_WECOM_BYTES = 4096  # WeCom's markdown content limit


def dingtalk_sign(timestamp_ms: int, secret: str) -> str:
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), to_sign, hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest).decode())


def feishu_sign(timestamp_s: int, secret: str) -> str:
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


class _Chat(HttpReceiver):
    def __init__(
        self,
        name: str,
        url: str,
        *,
        texts: Texts,
        external_url: str,
        secret: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.name = name
        self._url = url
        self.texts = texts
        self.external_url = external_url
        self._secret = secret
        self.timeout_s = timeout_s

    def __repr__(self) -> str:  # never the URL: it holds the token
        return f"{type(self).__name__}({self.name!r}, {self.texts.language})"

    def markdown(self, notification: Notification) -> str:
        lines = [f"**{self.texts.title(notification)}**", ""]
        lines += [f"- {line}" for line in self.texts.lines(notification)]
        lines += ["", f"[Linewatch]({self.external_url})"]
        return "\n".join(lines)

    def _post(self, url: str, body: dict[str, Any]) -> HttpRequest:
        return HttpRequest(url, msgspec.json.encode(body))


class SlackReceiver(_Chat):
    def request(self, notification: Notification, now: datetime) -> HttpRequest:
        title = self.texts.title(notification)
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": title[:150]}}
        ]
        for line in self.texts.lines(notification)[: _SLACK_BLOCKS - 2]:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": line[:3000]}})
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"<{self.external_url}|Linewatch> · {notification.group_key}",
                    }
                ],
            }
        )
        return self._post(self._url, {"text": title, "blocks": blocks})

    def check(self, response: httpx.Response) -> None:
        super().check(response)  # Slack answers 200 "ok", errors with 4xx and a word


class WeComReceiver(_Chat):
    def request(self, notification: Notification, now: datetime) -> HttpRequest:
        content = self.markdown(notification)
        encoded = content.encode()
        if len(encoded) > _WECOM_BYTES:
            content = encoded[: _WECOM_BYTES - 3].decode(errors="ignore") + "…"
        return self._post(self._url, {"msgtype": "markdown", "markdown": {"content": content}})

    def check(self, response: httpx.Response) -> None:
        super().check(response)
        json_errcode(self.name, response, "errcode")


class DingTalkReceiver(_Chat):
    def request(self, notification: Notification, now: datetime) -> HttpRequest:
        url = self._url
        if self._secret:
            millis = int(now.timestamp() * 1000)
            joiner = "&" if "?" in url else "?"
            url = f"{url}{joiner}timestamp={millis}&sign={dingtalk_sign(millis, self._secret)}"
        body = {
            "msgtype": "markdown",
            "markdown": {
                "title": self.texts.title(notification),
                "text": self.markdown(notification),
            },
        }
        return self._post(url, body)

    def check(self, response: httpx.Response) -> None:
        super().check(response)
        json_errcode(self.name, response, "errcode")


class FeishuReceiver(_Chat):
    def request(self, notification: Notification, now: datetime) -> HttpRequest:
        text = "\n".join([self.texts.title(notification), *self.texts.lines(notification)])
        body: dict[str, Any] = {}
        if self._secret:
            seconds = int(now.timestamp())
            body = {"timestamp": str(seconds), "sign": feishu_sign(seconds, self._secret)}
        body.update({"msg_type": "text", "content": {"text": text}})
        return self._post(self._url, body)

    def check(self, response: httpx.Response) -> None:
        super().check(response)
        json_errcode(self.name, response, "code", "StatusCode")
