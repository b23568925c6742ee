"""The columnar lane's outputs: a stream's chart alerts and spec alerts from its columns.

:func:`chart_outputs` runs a stream's values through ``IMRChart.update_batch`` and hands
only the evaluations that signal, or that may resolve a firing alert, to the alert
manager (a run of evaluations without a signal is counted clean in one step,
:func:`_clean_stretch`); chart points are built only when wanted. :func:`spec_outputs`
judges the values against ``lsl``/``usl`` the same way. Each output is tagged with its
batch row and its phase inside the record (0 chart, 1 capability, 2 spec), the
per-record order (``pipeline/columnar_lane.py``; ``tests/unit/test_columnar_lane.py``).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, overload
from zoneinfo import ZoneInfo

import msgspec
import numpy as np

from linewatch.detectors.base import Evaluation
from linewatch.detectors.spc.imr import IMRChart
from linewatch.pipeline.alert_limits import limits_window
from linewatch.pipeline.alerts import AlertManager, StreamIdentity
from linewatch.pipeline.assembly import Stream
from linewatch.pipeline.models import Alert, Output
from linewatch.pipeline.spec_alerts import SPEC_CHART

if TYPE_CHECKING:
    from linewatch.pipeline.engine import Engine

__all__ = ["UTC_ZONE", "Stamps", "Tagged", "chart_outputs", "spec_outputs"]

#: The zone pyarrow gives a ``timestamp("us", tz="UTC")`` cell: a laned record's times are
#: the very datetimes the per-record path decodes.
UTC_ZONE = ZoneInfo("UTC")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC_ZONE)
_IMR_CHARTS = ("individuals", "moving_range")

#: An output with the batch row that caused it and its phase inside that record.
Tagged = tuple[int, int, Output]


class Stamps(Sequence[datetime]):
    """Event times (UTC microseconds) as datetimes, built only when one is read.

    ``epoch`` is 1970-01-01 in the zone the records' times came in (``UTC_ZONE`` from
    pyarrow, ``datetime.UTC`` from msgspec), so a laned output's time is the very datetime
    the per-record path would have put there.
    """

    __slots__ = ("epoch", "micros")

    def __init__(self, micros: np.ndarray, epoch: datetime = EPOCH) -> None:
        self.micros = micros
        self.epoch = epoch

    def __len__(self) -> int:
        return int(self.micros.size)

    @overload
    def __getitem__(self, i: int) -> datetime: ...

    @overload
    def __getitem__(self, i: slice) -> Stamps: ...

    def __getitem__(self, i: int | slice) -> datetime | Stamps:
        if isinstance(i, slice):
            return Stamps(self.micros[i], self.epoch)
        return self.epoch + timedelta(microseconds=int(self.micros[i]))

    def __iter__(self) -> Iterator[datetime]:
        epoch, delta = self.epoch, timedelta
        return (epoch + delta(microseconds=m) for m in self.micros.tolist())


def chart_outputs(
    engine: Engine,
    stream: Stream,
    stamps: Stamps,
    values: np.ndarray,
    rows: list[int],
    tagged: list[Tagged],
) -> None:
    detector = stream.detector
    assert isinstance(detector, IMRChart)
    stats = stream.stats
    identity = stream.identity
    build = engine.points_wanted or (identity.line, identity.station) in engine._point_stations
    columns = detector.update_batch(stamps, values)
    stats.observations += len(stamps)
    if stats.first_ts is None:
        stats.first_ts = stamps[0]
    stats.last_ts = stamps[len(stamps) - 1]
    head = columns.head
    for j, evaluation in enumerate(head):
        for out in engine._outputs(stream, evaluation):
            tagged.append((rows[j], 0, out))
    h, m = len(head), int(columns.values.size)
    if not m:
        return
    if build:
        for j, evaluation in enumerate(columns.evaluations(), start=h):
            for out in engine._outputs(stream, evaluation):
                tagged.append((rows[j], 0, out))
        return
    first = columns[h]
    stream.limits = limits_window(detector, first.points, stream.limits)
    plotted = 2 * m - (1 if columns.first_alone else 0)
    stats.points += plotted
    engine.points_not_built += plotted
    if not stats.main_chart:
        stats.main_chart = first.points[0].chart
    plan = columns.plans[0]
    if stats.main_chart == "individuals":
        stats.center, stats.lcl, stats.ucl = plan[1], plan[4], plan[5]
    signalled = columns.signalled().tolist()
    alerts = engine.alerts
    clean_needed = (
        getattr(stream.spec, "resolve_after_points", None) or alerts.config.resolve_after_points
    )
    j = 0
    while j < m:
        at = bisect.bisect_left(signalled, j)
        upcoming = signalled[at] if at < len(signalled) else m
        if j < upcoming and not (j == 0 and columns.first_alone):
            # No signal until ``upcoming``: only firing alerts count clean points there.
            for offset, out in _clean_stretch(alerts, identity, upcoming - j, clean_needed):
                tagged.append((rows[h + j + offset], 0, _stamped(out, stamps[h + j + offset])))
            j = upcoming
            continue
        for out in _alerts(engine, stream, columns[h + j]):
            tagged.append((rows[h + j], 0, out))
        j += 1


def _clean_stretch(
    manager: AlertManager, identity: StreamIdentity, length: int, clean_needed: int
) -> list[tuple[int, Alert]]:
    """``AlertManager.observe`` over ``length`` I-MR evaluations without a signal, at once:
    each alert firing on either chart counts them as clean points, and resolves at the
    one that makes ``clean_needed`` (its ``ts`` set by the caller). In the order
    ``observe`` emits them: by point, individuals before moving range, by fingerprint."""
    resolved: list[tuple[int, int, str, Alert]] = []
    for order, chart in enumerate(_IMR_CHARTS):
        key = (identity.line, identity.station, identity.characteristic, chart)
        for fingerprint in sorted(manager._on_chart.get(key, ())):
            firing = manager._firing[fingerprint]
            offset = max(clean_needed - firing.clean_points, 1) - 1
            if offset < length:
                manager._remove(fingerprint)
                resolved.append((offset, order, fingerprint, firing.alert))
            else:
                firing.clean_points += length
    resolved.sort(key=lambda item: item[:3])
    return [(offset, alert) for offset, _, _, alert in resolved]


def _stamped(alert: Alert, ts: datetime) -> Alert:
    return msgspec.structs.replace(alert, status="resolved", ts=ts, ends_at=ts)


def _alerts(engine: Engine, stream: Stream, evaluation: Evaluation) -> list[Output]:
    """The alert part of ``Engine._outputs`` (its point part is counted in bulk)."""
    stats = stream.stats
    signals = evaluation.signals
    for signal in signals:
        stats.signals[signal.rule] += 1
        if stats.first_signal_ts is None:
            stats.first_signal_ts = signal.ts
    spec = stream.spec
    return list(
        engine.alerts.observe(
            stream.identity,
            evaluation.points,
            signals,
            getattr(spec, "severity", None),
            resolve_after=getattr(spec, "resolve_after_points", None),
            limits=stream.limits,
        )
    )


def spec_outputs(
    engine: Engine,
    stream: Stream,
    stamps: Stamps,
    values: np.ndarray,
    rows: list[int],
    tagged: list[Tagged],
) -> None:
    lsl = getattr(stream.spec, "lsl", None)
    usl = getattr(stream.spec, "usl", None)
    if lsl is None and usl is None:
        return
    out_of_spec = np.zeros(values.size, dtype=bool)
    if usl is not None:
        out_of_spec |= values > usl
    if lsl is not None:
        out_of_spec |= values < lsl
    outside = np.flatnonzero(out_of_spec).tolist()
    identity, alerts = stream.identity, engine.alerts
    j, n = 0, int(values.size)
    while j < n:
        if not alerts.watches(identity, SPEC_CHART):  # in spec and nothing firing: no-op
            at = bisect.bisect_left(outside, j)
            if at == len(outside):
                break
            j = outside[at]
        for out in engine._spec(stream, stamps[j], float(values[j])):
            tagged.append((rows[j], 2, out))
        j += 1
