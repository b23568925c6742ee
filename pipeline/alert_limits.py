"""Where a stream's limits came from: the version and the phase-I window behind an alert.

A phase-I chart establishes limits version *v* with the observation that completes its
window; that update returns every point of the window, judged against the new limits. So
the window runs from the earliest of those points to the completing one (the version's
``effective_from``). Given limits (the config's ``limits:``) have a version and no window.
The engine keeps the newest :class:`LimitsWindow` per stream (in its snapshot) and stamps
it on the alerts of the points judged against it.

>>> from datetime import datetime, timedelta, timezone
>>> from linewatch.detectors.spc import IMRChart
>>> chart = IMRChart(phase1=3)
>>> t0 = datetime(2026, 12, 1, 8, tzinfo=timezone.utc)
>>> points = []
>>> for i, x in enumerate([10.0, 11.0, 10.5]):
...     points = list(chart.update(t0 + timedelta(minutes=i), x).points)
>>> window = limits_window(chart, points, None)
>>> window.version, window.start.strftime("%H:%M"), window.end.strftime("%H:%M")
(1, '08:00', '08:02')
>>> limits_window(IMRChart(center=10.0, sigma=1.0), [], None) is None
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from linewatch.detectors.base import Detector, PlotPoint
from linewatch.pipeline.alerts import LimitsWindow

__all__ = ["decode_window", "encode_window", "limits_window"]


def limits_window(
    detector: Detector, points: Sequence[PlotPoint], known: LimitsWindow | None
) -> LimitsWindow | None:
    """The window of the newest limits ``points`` were judged against (``known`` if the
    same version; ``None`` while there are no limits)."""
    version = max((p.limits_version for p in points), default=0)
    if version == 0:
        return known
    if known is not None and known.version == version:
        return known
    history = getattr(detector, "limits_history", ())
    effective = next((v.effective_from for v in history if v.version == version), None)
    if effective is None:  # given limits: no phase-I window
        return LimitsWindow(version)
    stamps = [p.ts for p in points if p.limits_version == version]
    # Only the update that completed phase I holds the window's points (its last is the
    # completing one); a later update (a stream restored from an old snapshot) does not.
    start = min(stamps) if effective in stamps else None
    return LimitsWindow(version, start, effective)


def encode_window(window: LimitsWindow | None) -> list[Any] | None:
    """JSON-able form (the engine's stream state)."""
    if window is None:
        return None
    return [window.version, _iso(window.start), _iso(window.end)]


def decode_window(saved: Sequence[Any] | Mapping[str, Any] | None) -> LimitsWindow | None:
    """:func:`encode_window` output back (``None`` for none, or an old snapshot's)."""
    if not isinstance(saved, Sequence) or len(saved) != 3:
        return None
    version, start, end = saved
    return LimitsWindow(int(version), _at(start), _at(end))


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def _at(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)
