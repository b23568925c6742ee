"""Alerts on the terminal: one line each as they fire, or a table at the end."""

from __future__ import annotations

import sys
from typing import Literal

from rich.console import Console
from rich.table import Table

from linewatch.pipeline.models import Alert, Output, WireRecord

__all__ = ["ConsoleSink", "alerts_table"]


def alerts_table(alerts: list[Alert], title: str = "Alerts") -> Table:
    """One row per alert, oldest first, with when it resolved (if it did)."""
    resolved = {a.alert_id: a for a in alerts if a.status == "resolved"}
    table = Table(title=title, show_lines=False)
    for column in (
        "started (UTC)",
        "resolved",
        "sev",
        "station",
        "stream",
        "chart",
        "rule",
        "value",
        "limits",
    ):
        table.add_column(column, overflow="fold", no_wrap=column != "stream")
    for alert in sorted(
        (a for a in alerts if a.status == "firing"), key=lambda a: (a.starts_at, a.fingerprint)
    ):
        end = resolved.get(alert.alert_id)
        limits = (
            ""
            if alert.lcl is None and alert.ucl is None
            else f"[{_fmt(alert.lcl)}, {_fmt(alert.ucl)}]"
        )
        table.add_row(
            alert.starts_at.strftime("%m-%d %H:%M:%S"),
            end.ts.strftime("%m-%d %H:%M") if end else "firing",
            alert.severity[:4],
            f"{alert.line}/{alert.station}",
            alert.characteristic,
            alert.chart,
            alert.rule,
            _fmt(alert.value),
            limits,
        )
    return table


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


class ConsoleSink:
    """Prints alerts: ``live`` as they are flushed, ``table`` once when closed."""

    def __init__(
        self, mode: Literal["live", "table"] = "live", console: Console | None = None
    ) -> None:
        self.mode = mode
        # Piped output has no width; wide enough for the table rather than 80 columns.
        self.console = console or Console(width=None if sys.stdout.isatty() else 150)
        self._pending: list[Alert] = []
        self._all: list[Alert] = []

    def add(self, item: Output | WireRecord) -> None:
        if isinstance(item, Alert):
            self._pending.append(item)

    def flush(self) -> None:
        if self.mode == "live":
            for alert in self._pending:
                self.console.print(
                    f"{alert.ts:%Y-%m-%d %H:%M:%S} {alert.status.upper():8} {alert.severity:8} "
                    f"{alert.line}/{alert.station} {alert.message} (value {_fmt(alert.value)})"
                )
        else:
            self._all.extend(self._pending)
        self._pending.clear()

    def close(self) -> None:
        self.flush()
        if self.mode == "table":
            fired = sum(1 for a in self._all if a.status == "firing")
            self.console.print(alerts_table(self._all, title=f"Alerts ({fired} fired)"))
