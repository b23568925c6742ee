"""The ``notifications:`` config, building receivers from it, and the Alertmanager pusher."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from linewatch.connectors.receivers import (
    AlertmanagerPusher,
    DingTalkReceiver,
    EmailReceiver,
    FeishuReceiver,
    SlackReceiver,
    WebhookReceiver,
    WeComReceiver,
)
from linewatch.pipeline.notify.build import (
    NotifyConfigError,
    build_delivery,
    build_pushers,
    build_receivers,
)
from linewatch.pipeline.notify.config import NotificationsConfig, parse_duration

from .alerts import Clock, alert, resolved

RECEIVERS: list[dict[str, Any]] = [
    {"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9/h", "secret_env": "HOOK_SECRET"},
    {"name": "slack", "type": "slack", "url_env": "SLACK_URL"},
    {"name": "wecom", "type": "wecom", "url_env": "WECOM_URL", "language": "zh-CN"},
    {"name": "ding", "type": "dingtalk", "url_env": "DING_URL", "secret_env": "DING_SECRET"},
    {"name": "feishu", "type": "feishu", "url_env": "FEISHU_URL"},
    {"name": "mail", "type": "email", "to": ["a@x"], "from": "lw@x", "smtp_host": "127.0.0.1"},
    {"name": "am", "type": "alertmanager", "url": "http://127.0.0.1:9093", "resend_interval": "1m"},
]
ENV = {
    "HOOK_SECRET": "h",
    "SLACK_URL": "http://127.0.0.1:9/s",
    "WECOM_URL": "http://127.0.0.1:9/w",
    "DING_URL": "http://127.0.0.1:9/d",
    "DING_SECRET": "d",
    "FEISHU_URL": "http://127.0.0.1:9/f",
}


def config(**extra: Any) -> NotificationsConfig:
    return NotificationsConfig.model_validate(
        {"receivers": RECEIVERS, "route": {"receiver": "hook"}, **extra}
    )


def test_every_receiver_type_builds_from_config_and_env(tmp_path: Path) -> None:
    built = build_receivers(config(), ENV)
    assert {name: type(r) for name, r in built.items() if name != "am"} == {
        "hook": WebhookReceiver,
        "slack": SlackReceiver,
        "wecom": WeComReceiver,
        "ding": DingTalkReceiver,
        "feishu": FeishuReceiver,
        "mail": EmailReceiver,
    }
    assert "127.0.0.1:9/" not in repr(built["slack"])  # the token-bearing URL is not shown
    clock = Clock()
    (pusher,) = build_pushers(config(), clock)
    assert (pusher.receiver, pusher.resend) == ("am", timedelta(minutes=1))
    cfg = config(delivery={"spool_dir": str(tmp_path / "spool")})
    delivery = build_delivery(cfg, built, clock, random.Random(0))
    assert delivery.pending == 0 and (tmp_path / "spool" / "slot-0").is_dir()
    delivery.spool.close()


def test_a_missing_secret_variable_is_one_line() -> None:
    env = {k: v for k, v in ENV.items() if k != "DING_SECRET"}
    with pytest.raises(
        NotifyConfigError,
        match=r"^notifications.receivers\[ding\]: environment variable DING_SECRET is not set$",
    ):
        build_receivers(config(), env)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"route": {"receiver": "am"}}, "is an alertmanager push"),
        (
            {"route": {"receiver": "hook", "routes": [{"matchers": ["line"], "receiver": "hook"}]}},
            "is not name=value",
        ),
        ({"route": {"receiver": "hook", "group_wait": "soon"}}, "duration 'soon' is not seconds"),
        ({"route": {"receiver": "hook", "group_wiat": 3}}, "Extra inputs are not permitted"),
        (
            {"receivers": [*RECEIVERS, RECEIVERS[0]]},
            "receiver names must be unique, repeated: hook",
        ),
        ({"route": {}}, "the root route needs a receiver"),
    ],
)
def test_bad_config_is_refused(change: dict[str, Any], message: str) -> None:
    data = {"receivers": RECEIVERS, "route": {"receiver": "hook"}, **change}
    with pytest.raises(ValidationError, match=message):
        NotificationsConfig.model_validate(data)


def test_durations() -> None:
    assert [parse_duration(v) for v in ("30s", "5m", "4h", "1h30m", "2d", "1w", "90", "1.5s")] == [
        30.0,
        300.0,
        14400.0,
        5400.0,
        172800.0,
        604800.0,
        90.0,
        1.5,
    ]
    root = config().route  # the defaults the README measures on the demo line
    assert (root.group_by, root.group_wait, root.group_interval, root.repeat_interval) == (
        ["line"],
        30.0,
        1800.0,
        43200.0,
    )


def test_pusher_resends_firing_every_interval_and_resolved_once() -> None:
    clock = Clock()
    pusher = AlertmanagerPusher("am", resend_interval=60, clock=clock)
    a, b = alert("a"), alert("b", station="weld-3")
    pusher.add(a)
    pusher.add(b)
    pushes = [[(x.fingerprint, x.status) for x in n.alerts] for n in pusher.due()]
    clock.advance(59)
    pushes += [[(x.fingerprint, x.status) for x in n.alerts] for n in pusher.due()]
    assert pushes == [[("a", "firing"), ("b", "firing")]]
    pusher.add(resolved(a, clock.now))  # a change is pushed at once
    pushes = [[(x.fingerprint, x.status) for x in n.alerts] for n in pusher.due()]
    clock.advance(60)
    pushes += [[(x.fingerprint, x.status) for x in n.alerts] for n in pusher.due()]
    assert pushes == [[("b", "firing"), ("a", "resolved")], [("b", "firing")]]
    pusher.add(resolved(b, clock.now))
    keys = [n.key for n in pusher.due()]
    clock.advance(600)
    assert pusher.due() == [] and pusher.next_due() is None and len(keys) == 1
