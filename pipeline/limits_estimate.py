"""Phase I on history: the engine's own charts, run over a recorded line, give each stream's limits.

The records go through a fresh :class:`~linewatch.pipeline.engine.Engine` of the config,
so routing, subgrouping, value guards and the charts' exclusion passes (``phase1_passes``)
are exactly those of ``run``. When a stream's phase-I window completes, its estimate is
taken from the chart: the parameters, the excluded observations, and the window's plotted
points (kept for the review charts). A stream whose window does not complete in the
history is reported with its progress (``k of n needed``); a stream with frozen limits in
the config has nothing to estimate.

Lag-1 autocorrelation is that of the location chart's plotted statistic over the kept
phase-I points: r1 = sum (x_t - m)(x_t+1 - m) / sum (x_t - m)^2, m their mean.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from linewatch.detectors.spc.chart import PhaseIChart
from linewatch.pipeline.assembly import Stream
from linewatch.pipeline.config import Config
from linewatch.pipeline.decode import decode
from linewatch.pipeline.engine import Engine, RecordRejected
from linewatch.pipeline.limits_file import stream_key
from linewatch.pipeline.models import ChartPoint, DeadLetter, RawRecord

__all__ = ["Estimate", "Phase1Window", "estimate_limits", "lag1_autocorrelation"]


def lag1_autocorrelation(values: Sequence[float]) -> float | None:
    """The lag-1 autocorrelation of ``values`` (``None`` for fewer than 3 or no spread).

    >>> lag1_autocorrelation([1.0, 2.0, 3.0, 4.0])
    0.25
    >>> lag1_autocorrelation([1.0, -1.0, 1.0, -1.0])
    -0.75
    """
    if len(values) < 3:
        return None
    mean = math.fsum(values) / len(values)
    centred = [v - mean for v in values]
    denominator = math.fsum(c * c for c in centred)
    if not denominator > 0.0:
        return None
    return math.fsum(a * b for a, b in itertools.pairwise(centred)) / denominator


@dataclass(slots=True)
class Phase1Window:
    """One stream's completed phase I: the limits-file entry and its plotted points."""

    key: tuple[str, str, str]
    entry: dict[str, Any]
    points: list[ChartPoint]  # every chart's phase-I points, as emitted
    excluded: list[int]  # 0-based positions in the window


@dataclass(slots=True)
class Estimate:
    """What phase I on the history gave, stream by stream."""

    windows: dict[tuple[str, str, str], Phase1Window] = field(default_factory=dict)
    #: streams still in phase I at the end of the history: (collected, needed)
    incomplete: dict[tuple[str, str, str], tuple[int, int]] = field(default_factory=dict)
    frozen: list[tuple[str, str, str]] = field(default_factory=list)  # config limits
    records: int = 0
    dead_letters: int = 0
    refused: int = 0

    def streams(self) -> dict[str, dict[str, Any]]:
        """The limits file's ``streams`` mapping, in a stable order."""
        return {stream_key(*k): self.windows[k].entry for k in sorted(self.windows)}


def _plain(value: Any) -> Any:
    """JSON/YAML-able parameters: tuples and numpy values as lists and floats."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    return float(value)


def _convention(config: Config, stream: Stream) -> str | None:
    """The stream's convention, where the config has one (``conventions:``, by name)."""
    for holder in (stream.spec, config):
        for name in ("convention", "conventions"):
            found = getattr(holder, name, None)
            if isinstance(found, str):
                return found
    return None


def _window(config: Config, stream: Stream, points: list[ChartPoint]) -> Phase1Window:
    detector = stream.detector
    assert isinstance(detector, PhaseIChart) and detector.params is not None
    size = int(getattr(detector, "phase1", len(points)))
    first = detector.observed - size
    excluded = sorted(i - first for i in detector.excluded)
    location = detector.charts[0]
    main = [p for p in points if p.chart == location]
    left_out = set(excluded)
    kept = [p.value for i, p in enumerate(main) if i not in left_out]
    limits = {}
    for chart in detector.charts:
        last = next((p for p in reversed(points) if p.chart == chart), None)
        if last is not None:
            limits[chart] = {"center": last.cl, "lcl": last.lcl, "ucl": last.ucl}
    params = _plain(detector.params)
    r1 = lag1_autocorrelation(kept)
    estimator = getattr(detector, "sigma_method", None) or getattr(detector, "default_method", "")
    entry: dict[str, Any] = {
        "chart": stream.stats.chart,
        "estimator": estimator or None,
        "convention": _convention(config, stream),
        "center": params.get("center", params.get("target")),
        "sigma": params.get("sigma"),
        "limits": limits,
        "n": size,
        "kept": size - len(excluded),
        "excluded": excluded,
        "excluded_ts": [main[i].ts.isoformat() for i in excluded if i < len(main)],
        "lag1_autocorrelation": None if r1 is None else round(r1, 12),
        "window": {
            "first": min(p.ts for p in main).isoformat(),
            "last": max(p.ts for p in main).isoformat(),
        },
        "params": params,
    }
    identity = stream.identity
    return Phase1Window(
        (identity.line, identity.station, identity.characteristic), entry, points, excluded
    )


def estimate_limits(
    config: Config,
    raws: Iterable[RawRecord],
    start: datetime | None = None,
    stop: datetime | None = None,
) -> Estimate:
    """Phase I of every stream over ``raws`` (records with ``start <= ts < stop``)."""
    engine = Engine(config)
    waiting: dict[tuple[str, str, str], Stream] = {}
    estimate = Estimate()

    def watch(stream: Stream) -> None:
        identity = stream.identity
        key = (identity.line, identity.station, identity.characteristic)
        if isinstance(stream.detector, PhaseIChart) and not stream.detector.has_limits:
            waiting[key] = stream
        else:
            estimate.frozen.append(key)

    engine.on_new_stream = watch
    for raw in raws:
        record = decode(raw)
        if isinstance(record, DeadLetter):
            estimate.dead_letters += 1
            continue
        if (start is not None and record.ts < start) or (stop is not None and record.ts >= stop):
            continue
        estimate.records += 1
        try:
            outputs = engine.process(record)
        except RecordRejected:
            estimate.refused += 1
            continue
        touched: dict[tuple[str, str, str], list[ChartPoint]] = {}
        for item in outputs:
            if isinstance(item, ChartPoint):
                key = (item.line, item.station, item.characteristic)
                if key in waiting:
                    touched.setdefault(key, []).append(item)
        for key, points in touched.items():
            stream = waiting.pop(key)
            estimate.windows[key] = _window(config, stream, points)
    for key, stream in waiting.items():
        progress = getattr(stream.detector, "phase1_progress", (0, 0))
        estimate.incomplete[key] = progress
    return estimate
