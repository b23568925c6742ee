"""Logging set-up: the human text format, or one JSON object per line (``--log-format json``).

A JSON line holds ``ts`` (ISO 8601 in UTC, with its zone), ``level``, ``logger``,
``message``, the record's extra fields at the top level (``log.info(..., extra={...})``;
one named like a fixed key is prefixed ``field_``), and ``exception`` with the traceback
when there is one. Values JSON cannot hold are written as their ``str``.

>>> record = logging.LogRecord("linewatch.x", logging.WARNING, "f.py", 1, "lag %d", (7,), None)
>>> record.created = 1764662400.25
>>> record.partition = 2
>>> JsonFormatter().format(record)
'{"ts": "2025-12-02T08:00:00.250000+00:00", "level": "WARNING", "logger": "linewatch.x", "message": "lag 7", "partition": 2}'
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = ["LOG_FORMATS", "JsonFormatter", "LogFormat", "configure_logging"]

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_FIXED = ("ts", "level", "logger", "message", "exception")
#: Attributes every LogRecord has: anything else on a record came as an extra field.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_"):
                entry[f"field_{name}" if name in _FIXED else name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.stack_info:
            entry["exception"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(log_format: LogFormat, verbose: bool) -> None:
    """Log to stderr: WARNING and up as text (DEBUG with ``-v``); JSON logs INFO and up."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
        level = logging.DEBUG if verbose else logging.INFO
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
        level = logging.DEBUG if verbose else logging.WARNING
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
