"""Turns detector signals into alerts with a stable fingerprint and a lifecycle.

An alert's fingerprint is built from line, station, characteristic, chart and rule, so the same
condition on the same stream is one alert however often the rule fires. The lifecycle is
``firing`` → ``resolved``: the first signal fires it, further signals while it fires only
count occurrences, and ``resolve_after_points`` consecutive points of that chart without
the rule resolve it. Alerts are stamped with event time, so a replay gives the same alerts.

>>> from datetime import datetime, timezone
>>> from linewatch.detectors.base import PlotPoint, Signal
>>> from linewatch.pipeline.config import AlertingConfig
>>> manager = AlertManager(AlertingConfig(resolve_after_points=2))
>>> t = datetime(2026, 11, 23, 8, tzinfo=timezone.utc)
>>> identity = StreamIdentity("L3", "weld-2", "nugget_dia_mm")
>>> signal = Signal(t, "nelson1", "individuals", 7, 9.0, 5.0, 4.0, 6.0, "1 point beyond 3 sigma")
>>> point = PlotPoint(t, "individuals", 7, 9.0, 5.0, 4.0, 6.0, 1, "beyond", ("nelson1",))
>>> [a.status for a in manager.observe(identity, [point], [signal])]
['firing']
>>> calm = PlotPoint(t, "individuals", 8, 5.0, 5.0, 4.0, 6.0, 1, "C")
>>> manager.observe(identity, [calm], [])
[]
>>> [(a.status, a.occurrences) for a in manager.observe(identity, [calm], [])]
[('resolved', 1)]
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import msgspec

from linewatch.detectors.base import PlotPoint, Signal
from linewatch.pipeline.config import AlertingConfig
from linewatch.pipeline.models import Alert

__all__ = ["AlertManager", "LimitsWindow", "StreamIdentity", "fingerprint_of"]

Severity = Literal["critical", "warning", "info"]


@dataclass(frozen=True, slots=True)
class StreamIdentity:
    """Who a detector's output belongs to. ``characteristic`` is ``equipment/name`` for parameters."""

    line: str
    station: str
    characteristic: str


@dataclass(frozen=True, slots=True)
class LimitsWindow:
    """Which limits a stream's points are judged against: their version, and the
    event-time window of the phase-I points that estimated them (``None`` for given limits)."""

    version: int
    start: datetime | None = None
    end: datetime | None = None


@functools.lru_cache(maxsize=65_536)  # a hash per signal was a hot spot of a replay
def fingerprint_of(identity: StreamIdentity, chart: str, rule: str) -> str:
    """Stable 16-hex-digit id of one rule on one chart of one stream.

    The chart is part of it: test 1 on the range chart and test 1 on the Xbar chart of
    the same characteristic are different conditions and fire and resolve apart.

    >>> fingerprint_of(StreamIdentity("L3", "weld-2", "nugget_dia_mm"), "xbar", "nelson1")
    '775a13e1ee991d59'
    """
    text = "\x1f".join((identity.line, identity.station, identity.characteristic, chart, rule))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(slots=True)
class _Firing:
    alert: Alert
    chart: str
    clean_points: int = 0


class AlertManager:
    """Deduplicates signals into alerts and resolves them when the chart calms down."""

    def __init__(self, config: AlertingConfig, clock: Callable[[], datetime] | None = None) -> None:
        self.config = config
        #: Processing time for ``Alert.emitted_at`` (None leaves it unset: tests, replays
        #: compared byte for byte). A resolved alert keeps the time its firing was emitted.
        self.clock = clock
        self._firing: dict[str, _Firing] = {}
        # Firing fingerprints per (line, station, characteristic, chart): every plotted point
        # looks here, so it must not scan all firing alerts of the job.
        self._on_chart: dict[tuple[str, str, str, str], set[str]] = {}

    @property
    def firing(self) -> list[Alert]:
        """Alerts currently firing, oldest first."""
        return sorted((f.alert for f in self._firing.values()), key=lambda a: a.starts_at)

    def severity_of(self, rule: str) -> Severity:
        return self.config.severity.get(rule, self.config.default_severity)

    def observe(
        self,
        identity: StreamIdentity,
        points: Iterable[PlotPoint],
        signals: Iterable[Signal],
        severity: Severity | None = None,
        *,
        resolve_after: int | None = None,
        limits: LimitsWindow | None = None,
    ) -> list[Alert]:
        """Alerts that fire or resolve because of these points and signals, in point order.

        A phase I that completes hands over all its points at once: each point's signals
        are taken before the points after it are counted as clean, so an alert neither
        resolves on points that came before its signal nor on its own point.
        ``severity`` and ``resolve_after`` override the ``alerting`` section's for this
        stream; ``limits`` says where the points' limits came from (stamped on new alerts).
        """
        emitted: list[Alert] = []
        by_point: dict[tuple[str, int], list[Signal]] = {}
        for signal in signals:
            by_point.setdefault((signal.chart, signal.index), []).append(signal)
        clean_needed = resolve_after or self.config.resolve_after_points
        for point in points:
            fired = by_point.pop((point.chart, point.index), [])
            window = (
                limits if limits is not None and limits.version == point.limits_version else None
            )
            signalled = self._fire(identity, fired, emitted, severity, window)
            emitted.extend(self._count_clean(identity, point, signalled, clean_needed))
        for leftover in by_point.values():  # signals of points not plotted here
            self._fire(identity, leftover, emitted, severity, limits)
        return emitted

    def watches(self, identity: StreamIdentity, chart: str) -> bool:
        """Whether an alert fires on this chart of the stream (its points may resolve it).

        Without signals, :meth:`observe` changes nothing for a point of a chart nothing
        fires on: the engine's hot path skips the call then.
        """
        key = (identity.line, identity.station, identity.characteristic, chart)
        return key in self._on_chart

    def _fire(
        self,
        identity: StreamIdentity,
        signals: list[Signal],
        emitted: list[Alert],
        severity: Severity | None = None,
        limits: LimitsWindow | None = None,
    ) -> set[str]:
        signalled: set[str] = set()
        for signal in signals:
            fingerprint = fingerprint_of(identity, signal.chart, signal.rule)
            signalled.add(fingerprint)
            current = self._firing.get(fingerprint)
            if current is None:
                alert = self._new_alert(identity, fingerprint, signal, severity, limits)
                self._add(fingerprint, _Firing(alert, signal.chart))
                emitted.append(alert)
            else:
                current.clean_points = 0
                current.alert = _replace(current.alert, occurrences=current.alert.occurrences + 1)
        return signalled

    def _count_clean(
        self, identity: StreamIdentity, point: PlotPoint, signalled: set[str], clean_needed: int
    ) -> list[Alert]:
        resolved: list[Alert] = []
        key = (identity.line, identity.station, identity.characteristic, point.chart)
        for fingerprint in sorted(self._on_chart.get(key, ())):
            firing = self._firing[fingerprint]
            alert = firing.alert
            if fingerprint in signalled or alert.rule in point.rules:
                continue
            firing.clean_points += 1
            if firing.clean_points >= clean_needed:
                self._remove(fingerprint)
                resolved.append(_replace(alert, status="resolved", ts=point.ts, ends_at=point.ts))
        return resolved

    def _add(self, fingerprint: str, firing: _Firing) -> None:
        self._firing[fingerprint] = firing
        alert = firing.alert
        key = (alert.line, alert.station, alert.characteristic, firing.chart)
        self._on_chart.setdefault(key, set()).add(fingerprint)

    def _remove(self, fingerprint: str) -> None:
        firing = self._firing.pop(fingerprint)
        alert = firing.alert
        key = (alert.line, alert.station, alert.characteristic, firing.chart)
        fingerprints = self._on_chart[key]
        fingerprints.discard(fingerprint)
        if not fingerprints:
            del self._on_chart[key]

    def _new_alert(
        self,
        identity: StreamIdentity,
        fingerprint: str,
        signal: Signal,
        severity: Severity | None = None,
        limits: LimitsWindow | None = None,
    ) -> Alert:
        millis = int(signal.ts.timestamp() * 1000)
        return Alert(
            alert_id=f"{fingerprint}-{millis}",
            fingerprint=fingerprint,
            status="firing",
            ts=signal.ts,
            starts_at=signal.ts,
            ends_at=None,
            line=identity.line,
            station=identity.station,
            characteristic=identity.characteristic,
            chart=signal.chart,
            rule=signal.rule,
            severity=severity or self.severity_of(signal.rule),
            value=float(signal.value),
            cl=float(signal.center),
            ucl=None if signal.ucl is None else float(signal.ucl),
            lcl=None if signal.lcl is None else float(signal.lcl),
            message=f"{identity.characteristic} {signal.chart}: {signal.description}",
            emitted_at=None if self.clock is None else self.clock(),
            limits_version=None if limits is None else limits.version,
            limits_from=None if limits is None else limits.start,
            limits_to=None if limits is None else limits.end,
        )

    # -- state -------------------------------------------------------------------------

    def snapshot(self, selected: Callable[[Alert], bool] = lambda _: True) -> dict[str, Any]:
        """Firing alerts (those ``selected``), JSON-able."""
        return {
            fp: {"alert": msgspec.to_builtins(f.alert), "chart": f.chart, "clean": f.clean_points}
            for fp, f in self._firing.items()
            if selected(f.alert)
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Add the firing alerts of :meth:`snapshot` (replacing those with the same fingerprint)."""
        for fp, saved in state.items():
            if fp in self._firing:
                self._remove(fp)
            alert = msgspec.convert(saved["alert"], Alert)
            self._add(fp, _Firing(alert, saved["chart"], int(saved["clean"])))

    def forget(self, selected: Callable[[Alert], bool]) -> None:
        """Drop the firing alerts ``selected`` (their stream moved to another worker)."""
        for fp in [fp for fp, f in self._firing.items() if selected(f.alert)]:
            self._remove(fp)


def _replace(alert: Alert, **changes: Any) -> Alert:
    return msgspec.structs.replace(alert, **changes)
