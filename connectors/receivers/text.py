"""Alert text in ``en`` or ``zh-CN``: template files shipped here, overridable by a folder.

Templates are :class:`string.Template` files (``$name``) under ``templates/<language>/``:
``title.txt`` (one line per notification), ``alert.txt`` (one line per alert),
``email.html`` (the HTML part of an e-mail) and ``strings.json`` (status words, severity
words, and each rule in plain words with ``{k}``/``{k1}`` for its K). A folder given as
``templates_dir`` is looked in first, file by file.

>>> from datetime import datetime, timezone
>>> from linewatch.pipeline.models import Alert
>>> t = datetime(2026, 11, 23, 8, tzinfo=timezone.utc)
>>> alert = Alert(alert_id="f-1", fingerprint="f", status="firing", ts=t, starts_at=t,
...     ends_at=None, line="L3", station="weld-2", characteristic="nugget_dia_mm",
...     chart="individuals", rule="nelson2", severity="warning", value=5.61, cl=5.4,
...     ucl=5.9, lcl=4.9, message="nugget_dia_mm individuals: 7 points in a row on the same side of the center line")
>>> Texts("zh-CN", "Asia/Shanghai").alert_line(alert)
'【告警】L3 / weld-2 / nugget_dia_mm（individuals）：连续 7 点位于中心线同一侧。数值 5.61，控制限 LCL 4.9 / CL 5.4 / UCL 5.9，时间 2026-11-23 16:00:00 CST（警告）'
>>> Texts("en", "Europe/Berlin").rule_text(alert)
'7 points in a row on one side of the center line'
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from string import Template
from typing import Any
from zoneinfo import ZoneInfo

from linewatch.pipeline.models import Alert, Notification

__all__ = ["LANGUAGES", "Texts"]

LANGUAGES = ("en", "zh-CN")
SHIPPED = Path(__file__).resolve().parent / "templates"
#: Minitab's default K per Nelson test, for messages that do not say it.
_DEFAULT_K = {1: "3", 2: "9", 3: "6", 4: "14", 5: "2", 6: "4", 7: "15", 8: "8"}
_SIGMA_K = re.compile(r"more than (\d+(?:\.\d+)?) sigma")
_LEADING_K = re.compile(r"^(\d+)\b")


class Texts:
    """The texts of one receiver: language, plant time zone, optional override folder."""

    def __init__(
        self, language: str, time_zone: str = "UTC", templates_dir: Path | None = None
    ) -> None:
        if language not in LANGUAGES:
            raise ValueError(f"language {language!r} is not one of {', '.join(LANGUAGES)}")
        self.language = language
        self.zone = ZoneInfo(time_zone)
        self._folders = [SHIPPED / language]
        if templates_dir is not None:
            self._folders.insert(0, Path(templates_dir))
        self.strings: dict[str, Any] = json.loads(self._read("strings.json"))
        self._templates = {
            name: Template(self._read(name).rstrip("\n"))
            for name in ("title.txt", "alert.txt", "email.html")
        }

    def _read(self, name: str) -> str:
        for folder in self._folders:
            path = folder / name
            if path.is_file():
                return path.read_text(encoding="utf-8")
        raise FileNotFoundError(
            f"template {name} not found in {', '.join(map(str, self._folders))}"
        )

    def _fill(self, name: str, values: Mapping[str, str]) -> str:
        try:
            return self._templates[name].substitute(values)
        except (KeyError, ValueError) as exc:
            raise ValueError(f"template {name}: unknown or bad placeholder {exc}") from None

    def local_time(self, at: datetime) -> str:
        return at.astimezone(self.zone).strftime("%Y-%m-%d %H:%M:%S %Z")

    def rule_text(self, alert: Alert) -> str:
        """The rule in plain words, K taken from the alert's message (Minitab's if absent)."""
        rules: dict[str, str] = self.strings["rules"]
        pattern = rules.get(alert.rule)
        if pattern is None:
            description = alert.message.partition(": ")[2]
            return description or alert.message
        k = ""
        if alert.rule.startswith("nelson") and alert.rule[6:].isdigit():
            test = int(alert.rule[6:])
            description = alert.message.partition(": ")[2]
            found = (_SIGMA_K if test == 1 else _LEADING_K).search(description)
            k = found.group(1) if found else _DEFAULT_K.get(test, "")
        k1 = str(int(k) + 1) if k.isdigit() else ""
        return pattern.format(k=k, k1=k1)

    def _number(self, value: float | None) -> str:
        return self.strings["none"] if value is None else f"{value:g}"

    def alert_values(self, alert: Alert) -> dict[str, str]:
        return {
            "status": self.strings["status"][alert.status],
            "line": alert.line,
            "station": alert.station,
            "characteristic": alert.characteristic,
            "chart": alert.chart,
            "rule": alert.rule,
            "rule_text": self.rule_text(alert),
            "severity": self.strings["severity"].get(alert.severity, alert.severity),
            "value": self._number(alert.value),
            "cl": self._number(alert.cl),
            "ucl": self._number(alert.ucl),
            "lcl": self._number(alert.lcl),
            "time": self.local_time(alert.ends_at if alert.ends_at else alert.ts),
            "starts_at": self.local_time(alert.starts_at),
            "fingerprint": alert.fingerprint,
            "occurrences": str(alert.occurrences),
        }

    def alert_line(self, alert: Alert) -> str:
        return self._fill("alert.txt", self.alert_values(alert))

    def title(self, notification: Notification) -> str:
        labels = notification.common_labels
        where = " / ".join(labels[n] for n in ("line", "station") if n in labels) or "Linewatch"
        count = len(notification.alerts) + notification.truncated
        return self._fill(
            "title.txt",
            {
                "status": self.strings["status"][notification.status],
                "count": str(count),
                "where": where,
            },
        )

    def lines(self, notification: Notification) -> list[str]:
        shown = [self.alert_line(a) for a in notification.alerts]
        if notification.truncated:
            more = "+{n} more" if self.language == "en" else "另有 {n} 条"
            shown.append(more.format(n=notification.truncated))
        return shown

    def html(self, notification: Notification, external_url: str) -> str:
        items = "".join(f"<li>{html.escape(line)}</li>\n" for line in self.lines(notification))
        return self._fill(
            "email.html",
            {
                "title": html.escape(self.title(notification)),
                "items": items,
                "external_url": html.escape(external_url, quote=True),
                "group_key": html.escape(notification.group_key),
            },
        )
