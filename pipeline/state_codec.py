"""The engine's learned state as plain JSON data, and back: streams, KPI windows, clocks.

Detectors snapshot themselves (JSON bytes); this module adds what the engine keeps around
them: pending subgroup values, pending part vectors, the value guard, a station's KPI
window and a key's event clock. ``decode_*`` of ``encode_*`` gives the same state.
"""

from __future__ import annotations

import contextlib
import itertools
import operator
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgspec

from linewatch.pipeline.alert_limits import decode_window, encode_window
from linewatch.pipeline.assembly import Stream
from linewatch.pipeline.guards import EventClock
from linewatch.pipeline.kpis import KpiWindow

__all__ = [
    "decode_clock",
    "decode_kpi_window",
    "decode_stream",
    "encode_kpi_window",
    "encode_stream",
]


def encode_stream(stream: Stream) -> dict[str, Any]:
    return {
        "detector": msgspec.json.decode(stream.detector.snapshot()),
        "capability": None
        if stream.capability is None
        else msgspec.json.decode(stream.capability.snapshot()),
        "pending": list(stream.pending),
        "pending_id": stream.pending_id,
        "pending_ts": stream.pending_ts.isoformat() if stream.pending_ts else None,
        "vectors": {part: dict(values) for part, values in stream.vectors.items()},
        "guard": None if stream.guard is None else stream.guard.state(),
        "limits": encode_window(stream.limits),
    }


def decode_stream(stream: Stream, saved: Mapping[str, Any]) -> None:
    """Load :func:`encode_stream` output into a fresh ``stream`` of the same spec."""
    stream.detector.restore(msgspec.json.encode(saved["detector"]))
    if stream.capability is not None and saved["capability"] is not None:
        stream.capability.restore(msgspec.json.encode(saved["capability"]))
    stream.pending = [float(v) for v in saved["pending"]]
    stream.pending_id = saved["pending_id"]
    pending_ts = saved["pending_ts"]
    stream.pending_ts = datetime.fromisoformat(pending_ts) if pending_ts else None
    stream.vectors = {part: dict(values) for part, values in saved["vectors"].items()}
    if stream.guard is not None and saved.get("guard") is not None:
        stream.guard.restore(saved["guard"])
    stream.limits = decode_window(saved.get("limits"))


def encode_kpi_window(window: KpiWindow | None) -> dict[str, Any] | None:
    if window is None:
        return None
    return {
        "parts": _part_rows(window),
        "next_emit": window.next_emit.isoformat() if window.next_emit else None,
    }


def _part_rows(window: KpiWindow) -> list[list[Any]]:
    """The window's parts as rows ``[ts isoformat, first_pass, defect, defects, rework]``.

    The window only appends parts and drops its oldest, so the rows of the last snapshot
    are reused for the parts still there (checked by identity: exact, whatever happened
    to the deque) and only the parts added since are encoded.
    """
    parts = window.parts
    before, rows = window.encoded
    gone = len(before)
    if parts and before:
        with contextlib.suppress(ValueError):  # the oldest part left is one of ``before``
            gone = before.index(parts[0])
    kept = len(before) - gone
    if kept > len(parts) or not all(
        map(operator.is_, itertools.islice(parts, kept), itertools.islice(before, gone, None))
    ):
        gone, kept = len(before), 0
    rows = rows[gone:] + [
        [part[0].isoformat(), *part[1:]] for part in itertools.islice(parts, kept, None)
    ]
    window.encoded = (list(parts), rows)
    return rows


def decode_kpi_window(window: KpiWindow, saved: Mapping[str, Any]) -> KpiWindow:
    """Load :func:`encode_kpi_window` output into a fresh ``window``; returns it."""
    window.parts.extend(
        (datetime.fromisoformat(p[0]), bool(p[1]), bool(p[2]), int(p[3]), bool(p[4]))
        for p in saved["parts"]
    )
    next_emit = saved["next_emit"]
    window.next_emit = datetime.fromisoformat(next_emit) if next_emit else None
    return window


def decode_clock(state: Mapping[str, Any]) -> EventClock | None:
    """A key's event clock from its saved state (``None`` if it had none)."""
    if state.get("clock") is not None:
        return EventClock.from_state(state["clock"])
    if state.get("watermark") is not None:  # state saved before the robust clock
        clock = EventClock()
        clock.commit(datetime.fromisoformat(state["watermark"]).timestamp())
        return clock
    return None
