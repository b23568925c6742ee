"""The ``notifications:`` section: routes, receivers, inhibition, shifts (pydantic, strict).

Durations take seconds or Alertmanager's form (``30s``, ``5m``, ``4h``, ``1h30m``).
Secrets are never in the file: each receiver names the environment variable holding it.

>>> cfg = NotificationsConfig.model_validate({
...     "receivers": [{"name": "ops", "type": "webhook", "url": "http://127.0.0.1:9/hook"}],
...     "route": {"receiver": "ops", "group_wait": "30s", "repeat_interval": "1h30m"}})
>>> cfg.route.group_wait, cfg.route.repeat_interval, cfg.route.group_interval
(30.0, 5400.0, 1800.0)
>>> from pydantic import ValidationError
>>> try:
...     NotificationsConfig.model_validate({"receivers": [], "route": {"receiver": "nobody"}})
... except ValidationError as exc:
...     print(exc.errors()[0]["msg"])
Value error, route receiver 'nobody' is not a configured receiver
"""

from __future__ import annotations

import re
from datetime import date, time
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PositiveInt,
    Tag,
    field_validator,
    model_validator,
)

from linewatch.pipeline.notify.matchers import Matcher

__all__ = [
    "DEFAULT_CAUSES",
    "LEAD_ON_DUTY",
    "AlertmanagerReceiverConfig",
    "DeliveryConfig",
    "DingTalkReceiverConfig",
    "EmailReceiverConfig",
    "FeishuReceiverConfig",
    "HolidayConfig",
    "InhibitRuleConfig",
    "NotificationsConfig",
    "ReceiverConfig",
    "RouteConfig",
    "ShiftCalendarConfig",
    "ShiftConfig",
    "SlackReceiverConfig",
    "WeComReceiverConfig",
    "WebhookReceiverConfig",
    "parse_duration",
]

#: The 5M1E families of assignable causes, a shift lead's usual first choice.
DEFAULT_CAUSES = (
    "man (operator)",
    "machine (equipment, tooling)",
    "material (lot, supplier)",
    "method (procedure, setting)",
    "measurement (gauge)",
    "environment",
)
#: The receiver name a route uses to reach whoever leads the shift on duty.
LEAD_ON_DUTY = "lead-on-duty"
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(value: Any) -> Any:
    """Seconds from ``90``, ``"90"``, ``"1m30s"``; anything else is left for pydantic.

    >>> parse_duration("1h30m"), parse_duration("250ms"), parse_duration(5)
    (5400.0, 0.25, 5)
    """
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            return float(text)
        if text and _PART.sub("", text) == "":
            return sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(text))
        raise ValueError(f"duration {value!r} is not seconds or like 30s, 5m, 4h, 1h30m")
    return value


Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0.0)]
Language = Literal["en", "zh-CN"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_ALL_DAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _check_matchers(values: list[str]) -> list[str]:
    for text in values:
        Matcher.parse(text)
    return values


def _check_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA time zone {name!r}") from None
    return name


Matchers = Annotated[list[str], Field(default_factory=list)]


class RouteConfig(_Strict):
    """A node of the route tree; unset group settings are inherited from the parent."""

    receiver: str | None = None
    matchers: Matchers
    group_by: list[str] | None = None
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None
    continue_: bool = Field(False, alias="continue")
    routes: list[RouteConfig] = Field(default_factory=list)

    _matchers = field_validator("matchers")(_check_matchers)


class RootRouteConfig(RouteConfig):
    """The root route matches every alert; Alertmanager's defaults apply here."""

    receiver: str | None = None
    # Defaults a shift lead accepts (measured on the demo line, see the README): one
    # group per line, new alerts of a line at most every 30 min, a reminder every 12 h.
    # (Alertmanager's own are 5 min and 4 h: about twice the notifications.)
    group_by: list[str] | None = Field(default_factory=lambda: ["line"])
    group_wait: Duration | None = 30.0
    group_interval: Duration | None = 1800.0
    repeat_interval: Duration | None = 43200.0


class InhibitRuleConfig(_Strict):
    """While a source alert fires, mute target alerts with the same ``equal`` labels."""

    source_matchers: list[str]
    target_matchers: list[str]
    equal: list[str] = Field(default_factory=list)

    _s = field_validator("source_matchers", "target_matchers")(_check_matchers)


class ShiftConfig(_Strict):
    """A shift starting on ``days`` at ``start`` local time; ``end <= start`` crosses midnight."""

    name: str
    days: list[Weekday] = Field(default_factory=lambda: list(_ALL_DAYS))
    start: time
    end: time
    lead: str


class HolidayConfig(_Strict):
    """A local calendar date on which ``lead`` is on duty all day instead of the shifts."""

    date: date
    lead: str
    name: str = ""


class ShiftCalendarConfig(_Strict):
    time_zone: Annotated[str, BeforeValidator(_check_zone)]
    shifts: list[ShiftConfig]
    holidays: list[HolidayConfig] = Field(default_factory=list)
    #: Who is reached when no shift covers the time (None: the notification is dropped, logged).
    fallback: str | None = None


class _Receiver(_Strict):
    name: Annotated[str, Field(min_length=1, pattern=r"^[^\s]+$")]
    send_resolved: bool = True
    #: Alerts per notification; the rest are counted in ``truncatedAlerts`` (0: all).
    max_alerts: Annotated[int, Field(ge=0)] = 0
    language: Language = "en"
    #: A folder with template files overriding the shipped ones (same file names).
    templates_dir: Path | None = None
    timeout_s: Annotated[float, Field(gt=0.0)] = 10.0


class WebhookReceiverConfig(_Receiver):
    type: Literal["webhook"]
    url: str
    #: Environment variable with the HMAC secret for ``X-Linewatch-Signature``.
    secret_env: str | None = None


class SlackReceiverConfig(_Receiver):
    type: Literal["slack"]
    send_resolved: bool = False  # Alertmanager's default for Slack
    url_env: str  # the incoming-webhook URL is itself the secret


class WeComReceiverConfig(_Receiver):
    type: Literal["wecom"]
    url_env: str  # https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...


class DingTalkReceiverConfig(_Receiver):
    type: Literal["dingtalk"]
    url_env: str  # https://oapi.dingtalk.com/robot/send?access_token=...
    secret_env: str | None = None


class FeishuReceiverConfig(_Receiver):
    type: Literal["feishu"]
    url_env: str  # https://open.feishu.cn/open-apis/bot/v2/hook/...
    secret_env: str | None = None


class EmailReceiverConfig(_Receiver):
    type: Literal["email"]
    to: list[str]
    sender: str = Field(alias="from")
    smtp_host: str
    smtp_port: PositiveInt = 25
    starttls: bool = False
    username: str | None = None
    password_env: str | None = None


class AlertmanagerReceiverConfig(_Receiver):
    """Push every alert to a real Alertmanager, as Prometheus does (not grouped here)."""

    type: Literal["alertmanager"]
    url: str  # base URL, e.g. http://127.0.0.1:9093
    resend_interval: Duration = 60.0


def _receiver_type(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("type", ""))
    return str(getattr(value, "type", ""))


ReceiverConfig = Annotated[
    Annotated[WebhookReceiverConfig, Tag("webhook")]
    | Annotated[SlackReceiverConfig, Tag("slack")]
    | Annotated[WeComReceiverConfig, Tag("wecom")]
    | Annotated[DingTalkReceiverConfig, Tag("dingtalk")]
    | Annotated[FeishuReceiverConfig, Tag("feishu")]
    | Annotated[EmailReceiverConfig, Tag("email")]
    | Annotated[AlertmanagerReceiverConfig, Tag("alertmanager")],
    Discriminator(_receiver_type),
]


class DeliveryConfig(_Strict):
    """Retries with exponential backoff and jitter; undelivered ones wait in the spool."""

    spool_dir: Path = Path(".linewatch/notify-spool")
    spool_max_bytes: PositiveInt = 64 << 20
    backoff_initial_s: Annotated[float, Field(gt=0.0)] = 1.0
    backoff_max_s: Annotated[float, Field(gt=0.0)] = 300.0
    backoff_factor: Annotated[float, Field(ge=1.0)] = 2.0
    #: Each delay is drawn uniformly from [delay * (1 - jitter), delay].
    jitter: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5
    #: At the end of a finite input (a file, a replay) the notifier waits up to this long
    #: for each group's next look and its delivery, so the last notifications go out.
    drain: Duration = 60.0


class NotificationsConfig(_Strict):
    """Everything between a fired alert and a person: mount under ``notifications:``."""

    receivers: list[ReceiverConfig]
    route: RootRouteConfig
    inhibit_rules: list[InhibitRuleConfig] = Field(default_factory=list)
    shifts: ShiftCalendarConfig | None = None
    #: The plant's time zone: times in alert texts are shown in it.
    time_zone: Annotated[str, BeforeValidator(_check_zone)] = "UTC"
    external_url: str = "http://localhost:9300"
    silences_path: Path = Path(".linewatch/silences.json")
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)
    #: The notifier's state (``notify-state.json``: groups, firing alerts) and the
    #: acknowledgements and causes ``linewatch serve`` records (``annotations.jsonl``).
    state_dir: Path = Path(".linewatch/notify")
    #: Assignable causes offered when recording one (free text is always allowed).
    causes: list[str] = Field(default_factory=lambda: list(DEFAULT_CAUSES))

    @model_validator(mode="after")
    def _names(self) -> NotificationsConfig:
        names = [r.name for r in self.receivers]
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            raise ValueError(f"receiver names must be unique, repeated: {', '.join(doubled)}")
        known = set(names)
        pushed = {r.name for r in self.receivers if isinstance(r, AlertmanagerReceiverConfig)}
        if self.shifts is not None:
            leads = [s.lead for s in self.shifts.shifts] + [h.lead for h in self.shifts.holidays]
            if self.shifts.fallback is not None:
                leads.append(self.shifts.fallback)
            for lead in leads:
                if lead not in known:
                    raise ValueError(f"shift lead {lead!r} is not a configured receiver")
        if self.route.receiver is None:
            raise ValueError("the root route needs a receiver")
        pending: list[RouteConfig] = [self.route]
        while pending:
            route = pending.pop()
            pending.extend(route.routes)
            name = route.receiver
            if name in pushed:
                raise ValueError(
                    f"route receiver {name!r} is an alertmanager push: it gets every alert "
                    "and groups them itself, so no route names it"
                )
            if name is None or name in known:
                continue
            if name == LEAD_ON_DUTY:
                if self.shifts is None:
                    raise ValueError(f"a route sends to {LEAD_ON_DUTY!r} but no shifts are set")
                continue
            raise ValueError(f"route receiver {name!r} is not a configured receiver")
        return self
