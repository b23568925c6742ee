"""Alerts on the terminal: one line each as they fire, or a table at the end."""

from __future__ import annotations

from typing import Literal

from rich.console import Console
from rich.table import Table

from pipeline.models import Alert, Output

__all__ = ["ConsoleSink", "alerts_table"]


def alerts_table(alerts: list[Alert], title: str = "Alerts") -> Table:
    """A readable table of alerts, oldest first."""
    table = Table(title=title, show_lines=False)
    for column in (
        "time (UTC)",
        "status",
        "severity",
        "line/station",
        "characteristic",
        "chart",
        "rule",
        "value",
        "limits",
        "message",
    ):
        table.add_column(column, overflow="fold")
    for alert in sorted(alerts, key=lambda a: (a.ts, a.fingerprint)):
        limits = (
            ""
            if alert.lcl is None and alert.ucl is None
            else (f"[{_fmt(alert.lcl)}, {_fmt(alert.ucl)}]")
        )
        table.add_row(
            alert.ts.strftime("%Y-%m-%d %H:%M:%S"),
            alert.status,
            alert.severity,
            f"{alert.line}/{alert.station}",
            alert.characteristic,
            alert.chart,
            alert.rule,
            _fmt(alert.value),
            limits,
            alert.message,
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
        self.console = console or Console(stderr=False)
        self._pending: list[Alert] = []
        self._all: list[Alert] = []

    def add(self, item: Output) -> None:
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
            self.console.print(alerts_table(self._all, title=f"Alerts ({len(self._all)})"))
