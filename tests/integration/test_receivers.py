"""Receivers against real HTTP and SMTP servers on 127.0.0.1: exact bodies, signatures,
an outage, a killed worker, and no secret in the logs."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from aiosmtpd.controller import Controller

from linewatch.connectors.receivers import (
    AlertmanagerReceiver,
    Backoff,
    Delivery,
    DingTalkReceiver,
    EmailReceiver,
    FeishuReceiver,
    SlackReceiver,
    Texts,
    WebhookReceiver,
    WeComReceiver,
)
from linewatch.connectors.receivers.base import Receiver
from linewatch.connectors.spool import Spool
from linewatch.pipeline.models import Notification, alert_annotations, alert_labels
from linewatch.pipeline.notify.config import NotificationsConfig
from linewatch.pipeline.notify.policy import NotificationPolicy
from tests.unit.notify.alerts import T0, Clock, alert, resolved

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXTERNAL = "http://linewatch.example:9300"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Recorder:
    """A real HTTP server that keeps every request; answers are scripted per request."""

    def __init__(self, port: int | None = None, answer: bytes = b'{"errcode":0,"code":0}') -> None:
        self.port = port or free_port()
        self.requests: list[dict[str, Any]] = []
        self.answer = answer
        self.status = 200
        self.hold: threading.Event | None = None  # block the next request until set
        self.held = threading.Event()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                parts = urllib.parse.urlsplit(self.path)
                recorder.requests.append(
                    {
                        "path": parts.path,
                        "query": dict(urllib.parse.parse_qsl(parts.query)),
                        "raw_query": parts.query,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                    }
                )
                hold = recorder.hold
                if hold is not None:
                    recorder.hold = None
                    recorder.held.set()
                    hold.wait(30)
                self.send_response(recorder.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(recorder.answer)))
                self.end_headers()
                self.wfile.write(recorder.answer)

            def log_message(self, *args: Any) -> None:
                pass

        self._handler = Handler
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> Recorder:
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def json(self, n: int = -1) -> Any:
        return json.loads(self.requests[n]["body"])


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder().start()
    yield server
    server.stop()


def notification(**changes: Any) -> Notification:
    a = alert("775a13e1ee991d59", at=T0)
    b = resolved(alert("0f0f0f0f0f0f0f0f", station="weld-3", at=T0), T0 + timedelta(minutes=5))
    made = Notification(
        key="ops:d2ef319dc25b0850:b3aa9e274ba578a8",
        receiver="ops",
        status="firing",
        group_key='{}:{line="L3"}',
        group_labels={"line": "L3"},
        common_labels={"line": "L3", "rule": "nelson2"},
        common_annotations={},
        alerts=[a, b],
        truncated=3,
        created_at=T0 + timedelta(minutes=6),
    )
    return msgspec.structs.replace(made, **changes)


async def deliver_once(receiver: Receiver, note: Notification) -> None:
    async with httpx.AsyncClient() as client:
        await receiver.deliver(note, client, T0 + timedelta(minutes=6))


def test_webhook_sends_alertmanager_v4_body_with_a_verifiable_signature(recorder: Recorder) -> None:
    secret = "webhook-secret-9f2c"
    hook = WebhookReceiver("ops", recorder.url(), external_url=EXTERNAL, secret=secret)
    asyncio.run(deliver_once(hook, notification()))
    (got,) = recorder.requests
    labels_a = {
        "alertname": "nelson2",
        "line": "L3",
        "station": "weld-2",
        "characteristic": "nugget_dia_mm",
        "chart": "individuals",
        "rule": "nelson2",
        "severity": "warning",
    }
    notes = {
        "summary": "nugget_dia_mm individuals: 7 points in a row on the same side of the center line",
        "value": "5.61",
        "cl": "5.4",
        "ucl": "5.9",
        "lcl": "4.9",
    }
    assert json.loads(got["body"]) == {
        "version": "4",
        "groupKey": '{}:{line="L3"}',
        "truncatedAlerts": 3,
        "status": "firing",
        "receiver": "ops",
        "groupLabels": {"line": "L3"},
        "commonLabels": {"line": "L3", "rule": "nelson2"},
        "commonAnnotations": {},
        "externalURL": EXTERNAL,
        "alerts": [
            {
                "status": "firing",
                "labels": labels_a,
                "annotations": notes,
                "startsAt": "2026-11-23T08:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": EXTERNAL + "/alerts/775a13e1ee991d59",
                "fingerprint": "775a13e1ee991d59",
            },
            {
                "status": "resolved",
                "labels": {**labels_a, "station": "weld-3"},
                "annotations": notes,
                "startsAt": "2026-11-23T08:00:00Z",
                "endsAt": "2026-11-23T08:05:00Z",
                "generatorURL": EXTERNAL + "/alerts/0f0f0f0f0f0f0f0f",
                "fingerprint": "0f0f0f0f0f0f0f0f",
            },
        ],
    }
    headers = got["headers"]
    assert headers["content-type"] == "application/json"
    assert headers["idempotency-key"] == "ops:d2ef319dc25b0850:b3aa9e274ba578a8"
    expected = hmac.new(secret.encode(), got["body"], hashlib.sha256).hexdigest()
    assert headers["x-linewatch-signature"] == f"sha256={expected}"
    unsigned = WebhookReceiver("ops", recorder.url(), external_url=EXTERNAL)
    asyncio.run(deliver_once(unsigned, notification()))
    assert "x-linewatch-signature" not in recorder.requests[-1]["headers"]


def lines_en() -> list[str]:
    return [
        "[FIRING] L3 / weld-2 / nugget_dia_mm (individuals): 7 points in a row on one side of the "
        "center line. Value 5.61, limits LCL 4.9 / CL 5.4 / UCL 5.9, at 2026-11-23 09:00:00 CET (warning)",
        "[RESOLVED] L3 / weld-3 / nugget_dia_mm (individuals): 7 points in a row on one side of the "
        "center line. Value 5.61, limits LCL 4.9 / CL 5.4 / UCL 5.9, at 2026-11-23 09:05:00 CET (warning)",
        "+3 more",
    ]


def lines_zh() -> list[str]:
    return [
        "【告警】L3 / weld-2 / nugget_dia_mm（individuals）：连续 7 点位于中心线同一侧。数值 5.61，"
        "控制限 LCL 4.9 / CL 5.4 / UCL 5.9，时间 2026-11-23 16:00:00 CST（警告）",
        "【已恢复】L3 / weld-3 / nugget_dia_mm（individuals）：连续 7 点位于中心线同一侧。数值 5.61，"
        "控制限 LCL 4.9 / CL 5.4 / UCL 5.9，时间 2026-11-23 16:05:00 CST（警告）",
        "另有 3 条",
    ]


def test_slack_blocks(recorder: Recorder) -> None:
    slack = SlackReceiver(
        "slack",
        recorder.url("/services/T0/B0/xyz"),
        texts=Texts("en", "Europe/Berlin"),
        external_url=EXTERNAL,
    )
    recorder.answer = b"ok"
    asyncio.run(deliver_once(slack, notification()))
    title = "[FIRING] 5 Linewatch alert(s) on L3"
    assert recorder.json() == {
        "text": title,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title}},
            *({"type": "section", "text": {"type": "mrkdwn", "text": line}} for line in lines_en()),
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f"<{EXTERNAL}|Linewatch> · " + '{}:{line="L3"}'}
                ],
            },
        ],
    }
    assert recorder.requests[-1]["path"] == "/services/T0/B0/xyz"


def markdown(title: str, lines: list[str]) -> str:
    return "\n".join(
        [f"**{title}**", "", *(f"- {line}" for line in lines), "", f"[Linewatch]({EXTERNAL})"]
    )


def test_wecom_markdown_in_chinese(recorder: Recorder) -> None:
    wecom = WeComReceiver(
        "wecom",
        recorder.url("/cgi-bin/webhook/send?key=KEY123"),
        texts=Texts("zh-CN", "Asia/Shanghai"),
        external_url=EXTERNAL,
    )
    asyncio.run(deliver_once(wecom, notification()))
    assert recorder.json() == {
        "msgtype": "markdown",
        "markdown": {"content": markdown("【告警】L3 共 5 条 Linewatch 告警", lines_zh())},
    }
    assert recorder.requests[-1]["query"] == {"key": "KEY123"}


def test_dingtalk_signed_url_verifies_independently(recorder: Recorder) -> None:
    secret = "SEC0123456789abcdef"
    ding = DingTalkReceiver(
        "ding",
        recorder.url("/robot/send?access_token=TOKEN42"),
        texts=Texts("zh-CN", "Asia/Shanghai"),
        external_url=EXTERNAL,
        secret=secret,
    )
    asyncio.run(deliver_once(ding, notification()))
    got = recorder.requests[-1]
    title = "【告警】L3 共 5 条 Linewatch 告警"
    assert json.loads(got["body"]) == {
        "msgtype": "markdown",
        "markdown": {"title": title, "text": markdown(title, lines_zh())},
    }
    query = got["query"]
    assert query["access_token"] == "TOKEN42"
    assert (
        query["timestamp"]
        == str(int((T0 + timedelta(minutes=6)).timestamp() * 1000))
        == "1795421160000"
    )
    # DingTalk's documented check: base64(HMAC-SHA256(secret, timestamp + "\n" + secret)).
    mac = hmac.new(
        secret.encode("utf-8"), f"{query['timestamp']}\n{secret}".encode(), digestmod=hashlib.sha256
    )
    assert query["sign"] == base64.b64encode(mac.digest()).decode()  # parse_qsl url-decoded it
    assert "%" in got["raw_query"] or "+" not in query["sign"]  # sent URL-encoded


def test_feishu_signature_verifies_independently(recorder: Recorder) -> None:
    secret = "feishu-secret-77"
    bot = FeishuReceiver(
        "feishu",
        recorder.url("/open-apis/bot/v2/hook/abc-123"),
        texts=Texts("en", "Europe/Berlin"),
        external_url=EXTERNAL,
        secret=secret,
    )
    asyncio.run(deliver_once(bot, notification()))
    body = recorder.json()
    stamp = str(int((T0 + timedelta(minutes=6)).timestamp()))
    # Feishu's documented check: HMAC-SHA256 keyed with timestamp + "\n" + secret over nothing.
    key = f"{stamp}\n{secret}".encode()
    expected = base64.b64encode(hmac.new(key, digestmod=hashlib.sha256).digest()).decode()
    assert body == {
        "timestamp": stamp,
        "sign": expected,
        "msg_type": "text",
        "content": {"text": "\n".join(["[FIRING] 5 Linewatch alert(s) on L3", *lines_en()])},
    }


def test_chat_robot_error_code_is_a_failure(recorder: Recorder) -> None:
    from linewatch.connectors.receivers import DeliveryError

    recorder.answer = b'{"errcode":310000,"errmsg":"sign not match"}'
    ding = DingTalkReceiver(
        "ding",
        recorder.url("/robot/send?access_token=T"),
        texts=Texts("en"),
        external_url=EXTERNAL,
        secret="s",
    )
    with pytest.raises(DeliveryError, match="ding: error 310000 sign not match") as caught:
        asyncio.run(deliver_once(ding, notification()))
    assert caught.value.retryable is False


def test_alertmanager_push_body(recorder: Recorder) -> None:
    am = AlertmanagerReceiver("am", recorder.url(""), external_url=EXTERNAL, resend_interval=60)
    asyncio.run(deliver_once(am, notification()))
    got = recorder.requests[-1]
    assert got["path"] == "/api/v2/alerts"
    first, second = notification().alerts
    assert json.loads(got["body"]) == [
        {
            "labels": alert_labels(first),
            "annotations": alert_annotations(first),
            "startsAt": "2026-11-23T08:00:00Z",
            "endsAt": "2026-11-23T08:10:00Z",  # created 08:06 + 4 x 60 s
            "generatorURL": EXTERNAL + "/alerts/775a13e1ee991d59",
        },
        {
            "labels": alert_labels(second),
            "annotations": alert_annotations(second),
            "startsAt": "2026-11-23T08:00:00Z",
            "endsAt": "2026-11-23T08:05:00Z",
            "generatorURL": EXTERNAL + "/alerts/0f0f0f0f0f0f0f0f",
        },
    ]


# -- e-mail ----------------------------------------------------------------------------


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def self_signed(tmp_path: Path) -> ssl.SSLContext:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@pytest.mark.parametrize("starttls", [False, True])
def test_email_plain_and_html_over_smtp(tmp_path: Path, starttls: bool) -> None:
    box = Mailbox()
    port = free_port()
    kwargs: dict[str, Any] = {}
    if starttls:
        kwargs = {"tls_context": self_signed(tmp_path), "require_starttls": True}
    controller = Controller(box, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        client_tls = ssl.create_default_context()
        client_tls.check_hostname = False
        client_tls.verify_mode = ssl.CERT_NONE
        mail = EmailReceiver(
            "mail",
            texts=Texts("en", "Europe/Berlin"),
            external_url=EXTERNAL,
            sender="linewatch@plant.example",
            to=["anna@plant.example", "bo@plant.example"],
            host="127.0.0.1",
            port=port,
            starttls=starttls,
            tls_context=client_tls,
        )
        asyncio.run(deliver_once(mail, notification()))
    finally:
        controller.stop()
    ((sender, recipients, raw),) = box.messages
    assert (sender, recipients) == (
        "linewatch@plant.example",
        ["anna@plant.example", "bo@plant.example"],
    )
    message = message_from_bytes(raw, policy=policy.default)
    assert message["Subject"] == "[FIRING] 5 Linewatch alert(s) on L3"
    assert message["X-Linewatch-Idempotency-Key"] == "ops:d2ef319dc25b0850:b3aa9e274ba578a8"
    digest = hashlib.sha256(b"ops:d2ef319dc25b0850:b3aa9e274ba578a8").hexdigest()[:32]
    assert message["Message-ID"] == f"<{digest}@linewatch>"
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(("plain",)).get_content().replace("\r\n", "\n")  # SMTP sends CRLF
    html = message.get_body(("html",)).get_content()
    assert (
        plain
        == "\n".join(["[FIRING] 5 Linewatch alert(s) on L3", "", *lines_en(), "", EXTERNAL]) + "\n"
    )
    assert "<li>[RESOLVED] L3 / weld-3 / nugget_dia_mm (individuals): 7 points in a row" in html
    assert "<title>[FIRING] 5 Linewatch alert(s) on L3</title>" in html


# -- delivery: outage, crash, kill -9, secrets -----------------------------------------


def outage_config(port: int) -> NotificationsConfig:
    return NotificationsConfig.model_validate(
        {
            "receivers": [
                {"name": "ops", "type": "webhook", "url": f"http://127.0.0.1:{port}/hook"}
            ],
            "route": {
                "receiver": "ops",
                "group_by": ["line"],
                "group_wait": 0,
                "group_interval": 10,
                "repeat_interval": 3600,
            },
        }
    )


def test_receiver_down_60_s_and_a_crash_in_between_loses_nothing_and_sends_nothing_twice(
    tmp_path: Path,
) -> None:
    """The receiver refuses connections (nothing listens on its port) for 60 s of the test's
    clock; the backoff waits are taken from that clock, so the real time is ~1 s. Half-way the
    worker dies: its Delivery is dropped with only the spool lock released (as the OS does),
    and a new one on the same folder carries on."""
    clock = Clock()
    port = free_port()
    policy_ = NotificationPolicy(outage_config(port), clock=clock)
    backoff = Backoff(initial=1.0, maximum=30.0, factor=2.0, jitter=0.5)

    def worker() -> Delivery:
        hook = WebhookReceiver(
            "ops", f"http://127.0.0.1:{port}/hook", external_url=EXTERNAL, timeout_s=2
        )
        spool = Spool(tmp_path / "spool", max_bytes=1 << 20, suffix=".notification")
        return Delivery(spool, {"ops": hook}, clock=clock, backoff=backoff, rng=random.Random(42))

    submitted: list[str] = []
    waits: list[float] = []
    schedule: list[datetime] = []  # the first worker's retry times
    server = Recorder(port)
    events = {  # seconds after T0: what happens on the line
        0: [alert("a", at=T0), alert("b", line="L4", at=T0)],
        20: [resolved(alert("a", at=T0), T0 + timedelta(seconds=20))],
        40: [alert("c", station="weld-5", at=T0 + timedelta(seconds=40))],
        75: [resolved(alert("b", line="L4", at=T0), T0 + timedelta(seconds=75))],
    }

    async def scenario() -> Delivery:
        delivery = worker()
        crashed = up = False
        while True:
            elapsed = (clock.now - T0).total_seconds()
            for at in [t for t in events if t <= elapsed]:
                for item in events.pop(at):
                    policy_.add(item)
            for note in policy_.due():
                assert delivery.submit(note)
                submitted.append(note.key)
            if not up and elapsed >= 60:
                server.start()
                up = True
            if not crashed and elapsed >= 30:
                await delivery._client.aclose() if delivery._client else None
                delivery.spool.close()  # killed: nothing flushed, nothing acknowledged
                delivery = worker()
                crashed = True
            await delivery.send_due()
            upcoming = delivery.next_attempt()
            if (
                not crashed
                and upcoming is not None
                and upcoming > clock.now
                and upcoming not in schedule
            ):
                schedule.append(upcoming)
            if not events and delivery.pending == 0 and elapsed >= 120:
                return delivery  # L3's alert c still fires; its repeat would come at 3640 s
            candidates = [t for t in (delivery.next_attempt(), policy_.next_due()) if t is not None]
            candidates += [T0 + timedelta(seconds=min(events))] if events else []
            target = max(min(candidates), clock.now + timedelta(milliseconds=1))
            target = min(target, T0 + timedelta(seconds=120)) if elapsed < 120 else target
            waits.append((target - clock.now).total_seconds())
            clock.now = target
            assert elapsed < 600, "never finished"

    try:
        last = asyncio.run(scenario())
        asyncio.run(last.aclose())
    finally:
        server.stop()
    received = [r["headers"]["idempotency-key"] for r in server.requests]
    assert received == submitted  # every one, in order, none twice
    assert len(submitted) == 5
    statuses = [
        (json.loads(r["body"])["groupLabels"]["line"], json.loads(r["body"])["status"])
        for r in server.requests
    ]
    assert statuses == [
        ("L3", "firing"),  # a
        ("L4", "firing"),  # b
        ("L3", "resolved"),  # a resolved at 20 s
        ("L3", "firing"),  # c at 40 s
        ("L4", "resolved"),  # b resolved at 75 s, after the receiver came back
    ]
    # The first worker's retries follow the seeded backoff: 1, 2, 4, 8, 16, 30 s less up to half.
    rng = random.Random(42)
    expected = [min(30.0, 2.0**n) * (1 - 0.5 * rng.random()) for n in range(6)]
    gaps = [(b - a).total_seconds() for a, b in zip([T0, *schedule], schedule, strict=False)]
    assert gaps == pytest.approx(expected)
    assert sum(expected[:5]) < 30 < sum(expected)  # it died waiting for its 7th attempt
    assert (clock.now - T0).total_seconds() >= 120


CHILD = """
import asyncio, sys
from datetime import datetime, UTC
from linewatch.connectors.receivers import Delivery, WebhookReceiver
from linewatch.connectors.spool import Spool

async def main():
    hook = WebhookReceiver("ops", sys.argv[2], external_url="http://x", timeout_s=30)
    delivery = Delivery(Spool(sys.argv[1], max_bytes=1 << 20, suffix=".notification"), {"ops": hook},
                        clock=lambda: datetime.now(UTC))
    print("ready", flush=True)
    while delivery.pending:
        await delivery.send_due()
        await asyncio.sleep(0.01)

asyncio.run(main())
"""


def test_worker_killed_with_sigkill_mid_delivery_resends_with_the_same_key(
    tmp_path: Path, recorder: Recorder
) -> None:
    spool_dir = tmp_path / "spool"
    hook = WebhookReceiver("ops", recorder.url(), external_url=EXTERNAL)
    first = Delivery(
        Spool(spool_dir, max_bytes=1 << 20, suffix=".notification"), {"ops": hook}, clock=Clock()
    )
    keys = [f"ops:group:{n}" for n in range(6)]
    for key in keys:
        assert first.submit(notification(key=key))
    first.spool.close()
    release = threading.Event()
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    child = subprocess.Popen(
        [sys.executable, str(script), str(spool_dir), recorder.url()],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not recorder.requests and time.monotonic() < deadline:
            time.sleep(0.001)
        # One or more went through and were acknowledged; the next one hangs unanswered
        # while the child is killed: it was received but never acknowledged.
        recorder.hold = release
        assert recorder.held.wait(30), (
            child.stderr.read() if child.poll() is not None else "no request"
        )
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        release.set()
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    held_key = recorder.requests[-1]["headers"]["idempotency-key"]
    before = len(recorder.requests)
    assert 1 <= before < len(keys)
    again = Delivery(
        Spool(spool_dir, max_bytes=1 << 20, suffix=".notification"), {"ops": hook}, clock=Clock()
    )
    assert again.pending == len(keys) - before + 1  # the held one was never acknowledged
    asyncio.run(_drain(again))
    received = [r["headers"]["idempotency-key"] for r in recorder.requests]
    assert sorted(set(received)) == sorted(keys)  # every one delivered
    assert [k for k in set(received) if received.count(k) > 1] == [
        held_key
    ]  # re-sent once, same key
    assert received.count(held_key) == 2


async def _drain(delivery: Delivery) -> None:
    while delivery.pending:
        await delivery.send_due()
    await delivery.aclose()


def test_no_secret_or_signed_url_in_the_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token, ding_secret, feishu_secret, hook_secret = (
        "TOKENdeadbeef",
        "SECding4242",
        "feishuSECRET",
        "hookSECRET",
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    receivers: dict[str, Receiver] = {
        "ding": DingTalkReceiver(
            "ding",
            f"{base}/robot/send?access_token={token}",
            texts=Texts("en"),
            external_url=EXTERNAL,
            secret=ding_secret,
        ),
        "feishu": FeishuReceiver(
            "feishu",
            f"{base}/open-apis/bot/v2/hook/{token}",
            texts=Texts("en"),
            external_url=EXTERNAL,
            secret=feishu_secret,
        ),
        "hook": WebhookReceiver("hook", f"{base}/hook", external_url=EXTERNAL, secret=hook_secret),
    }
    clock = Clock(T0 + timedelta(minutes=6))
    delivery = Delivery(
        Spool(tmp_path / "spool", max_bytes=1 << 20),
        receivers,
        clock=clock,
        backoff=Backoff(jitter=0.0),
        rng=random.Random(1),
    )
    for name in receivers:
        delivery.submit(notification(receiver=name, key=f"{name}:k"))
    server = Recorder(port)

    async def run() -> None:
        await delivery.send_due()  # all refused: warnings logged
        server.start()
        clock.advance(1)
        await delivery.send_due()
        await delivery.aclose()

    try:
        asyncio.run(run())
    finally:
        server.stop()
    assert len(server.requests) == 3 and delivery.pending == 0
    sign = server.requests[0]["query"]["sign"]
    text = caplog.text
    assert "not delivered" in text and "delivered to ding" in text  # the logs did say something
    assert "HTTP Request: POST http://127.0.0.1/<redacted>" in text  # httpx's own log, redacted
    for secret in (
        token,
        ding_secret,
        feishu_secret,
        hook_secret,
        sign,
        urllib.parse.quote_plus(sign),
    ):
        assert secret not in text
    for record in caplog.records:
        assert token not in str(record.args) and token not in record.getMessage()


def test_a_permanent_refusal_is_kept_aside_not_retried_or_dropped(
    tmp_path: Path, recorder: Recorder
) -> None:
    recorder.status = 400
    hook = WebhookReceiver("ops", recorder.url(), external_url=EXTERNAL)
    delivery = Delivery(Spool(tmp_path / "spool", max_bytes=1 << 20), {"ops": hook}, clock=Clock())
    delivery.submit(notification(key="ops:bad"))

    async def run() -> None:
        await delivery.send_due()
        await delivery.send_due()
        await delivery.aclose()

    asyncio.run(run())
    assert (len(recorder.requests), delivery.pending, delivery.rejected) == (1, 0, 1)
    kept = json.loads((tmp_path / "spool" / "rejected" / "ops_bad.json").read_text())
    assert kept["reason"] == "ops: HTTP 400"
    assert kept["notification"]["key"] == "ops:bad"
