"""Argument types shared by the command-line modules (one message for one mistake)."""

from __future__ import annotations

import argparse
from datetime import datetime

__all__ = ["aware_time"]


def aware_time(text: str) -> datetime:
    """An ISO 8601 time with its zone, for argparse's ``type=``.

    >>> aware_time("2026-11-02T06:00:00Z").isoformat()
    '2026-11-02T06:00:00+00:00'
    """
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time, e.g. 2026-11-02T06:00:00Z"
        ) from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone (add Z or +00:00)")
    return value
