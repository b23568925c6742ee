"""HTTP plumbing shared by the writers and the replay source: the optional client libraries
(with the install hint when missing) and one-line messages for what a server or the
network said."""

from __future__ import annotations

import contextlib
import json
from typing import Any

__all__ = [
    "httpx_module",
    "influxdb_client_module",
    "retry_after_header",
    "server_message",
    "transport_message",
]

_INSTALL_HINT = "pip install 'linewatch[influx]'"


def influxdb_client_module() -> Any:
    """The ``influxdb_client`` module, or an ImportError that says how to install it."""
    try:
        import influxdb_client
    except ImportError as exc:
        raise ImportError(f"InfluxDB's v2 API needs influxdb-client: {_INSTALL_HINT}") from exc
    return influxdb_client


def httpx_module() -> Any:
    """The ``httpx`` module, or an ImportError that says how to install it."""
    try:
        import httpx
    except ImportError as exc:
        raise ImportError(f"InfluxDB's v1 API and replay need httpx: {_INSTALL_HINT}") from exc
    return httpx


def server_message(body: bytes | str | None) -> str:
    """What the server said: the JSON ``error``/``message``, else the text, cut to 500.

    >>> server_message(b'{"error": "database not found: lw"}')
    'database not found: lw'
    >>> server_message(b"")
    '(empty response)'
    """
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
    with contextlib.suppress(ValueError):
        data = json.loads(text)
        if isinstance(data, dict):
            message = data.get("error") or data.get("message")
            if message:
                return str(message)
    return text.strip()[:500] or "(empty response)"


def retry_after_header(value: Any) -> float | None:
    """Seconds from a ``Retry-After`` header value (never negative), or None."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


def transport_message(exc: BaseException) -> str:
    """The innermost cause of a network failure, in one line."""
    # urllib3 nests the cause (MaxRetryError -> NewConnectionError -> ConnectionRefusedError).
    seen = exc
    while seen.__cause__ is not None or getattr(seen, "reason", None) is not None:
        nested = getattr(seen, "reason", None)
        nested = nested if isinstance(nested, BaseException) else seen.__cause__
        if nested is None or nested is seen:
            break
        seen = nested
    text = str(seen) or type(seen).__name__
    if "refused" in text.lower():
        return f"connection refused ({text})"
    return f"{type(seen).__name__}: {text}"
