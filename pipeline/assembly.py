"""One stream's state, and the assembly of its observations: subgroups and part vectors.

A stream's chart sees an observation only once it is whole: the values of a subgroup
(closed when full, or when a new ``subgroup`` id arrives, even if short), or the vector of
a multivariate group's parameters for one part (part id, or the timestamp without one).
Incomplete vectors are bounded: beyond :data:`MAX_PENDING_VECTORS` the oldest is dropped.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from linewatch.detectors.base import Detector
from linewatch.detectors.registry import chart_info
from linewatch.pipeline.alerts import LimitsWindow, StreamIdentity
from linewatch.pipeline.config import CharacteristicConfig, MultivariateConfig, ParameterConfig
from linewatch.pipeline.factory import build_capability, build_detector, build_multivariate
from linewatch.pipeline.guards import ValueGuard

__all__ = [
    "MAX_PENDING_VECTORS",
    "Spec",
    "Stream",
    "StreamStats",
    "add_to_subgroup",
    "add_to_vector",
    "close_short_subgroup",
    "new_stream",
]

#: Pending part vectors kept per multivariate group before the oldest incomplete is dropped.
MAX_PENDING_VECTORS = 64

Spec = CharacteristicConfig | ParameterConfig | MultivariateConfig


@dataclass(slots=True)
class StreamStats:
    """What the report says about one stream."""

    identity: StreamIdentity
    chart: str
    observations: int = 0
    points: int = 0
    first_ts: datetime | None = None
    last_ts: datetime | None = None
    signals: Counter[str] = field(default_factory=Counter)
    first_signal_ts: datetime | None = None
    center: float | None = None
    lcl: float | None = None
    ucl: float | None = None
    main_chart: str = ""  # the location chart (first plotted): its limits are the ones shown
    # Where the limits come from ("" phase I or the config; "limits file v2" when seeded),
    # and an open phase-I window's progress (collected, needed) when the report is made.
    limits_from: str = ""
    phase1_progress: tuple[int, int] = (0, 0)


@dataclass(slots=True)
class Stream:
    """A stream's detectors, what is pending for them, and its value guard."""

    identity: StreamIdentity
    spec: Spec
    detector: Detector
    stats: StreamStats
    capability: Detector | None = None
    pending: list[float] = field(default_factory=list)
    pending_id: str | None = None
    pending_ts: datetime | None = None  # of the newest value in ``pending``
    # Multivariate groups: values per part (part id, or timestamp without one), oldest first.
    vectors: dict[str, dict[str, float]] = field(default_factory=dict)
    guard: ValueGuard | None = None
    limits: LimitsWindow | None = None  # the newest limits' phase-I window (alert_limits.py)

    @property
    def subgroup_size(self) -> int:
        return 1 if isinstance(self.spec, MultivariateConfig) else self.spec.subgroup_size


def new_stream(identity: StreamIdentity, spec: Spec) -> Stream:
    """A fresh stream for ``spec``: its chart (by the registry), capability and value guard."""
    if isinstance(spec, MultivariateConfig):
        return Stream(identity, spec, build_multivariate(spec), StreamStats(identity, "t2"))
    capability = build_capability(spec) if isinstance(spec, CharacteristicConfig) else None
    stream = Stream(
        identity, spec, build_detector(spec), StreamStats(identity, spec.chart), capability
    )
    takes = chart_info(spec.chart).takes
    if takes != "counts":
        sigmas = None if takes == "parts" else spec.implausible_sigma
        plausible = (spec.plausible.min, spec.plausible.max) if spec.plausible else None
        if sigmas is not None or plausible is not None:
            stream.guard = ValueGuard(plausible, sigmas)
    return stream


def close_short_subgroup(
    stream: Stream, subgroup: str | None
) -> tuple[list[float], datetime | None] | None:
    """The pending subgroup and its newest timestamp, if a new ``subgroup`` id closes it."""
    if stream.pending and subgroup is not None and subgroup != stream.pending_id:
        closed, closed_ts = stream.pending, stream.pending_ts
        stream.pending, stream.pending_id = [], None
        return closed, closed_ts
    return None


def add_to_subgroup(
    stream: Stream, value: float, subgroup: str | None, ts: datetime
) -> list[float] | None:
    """Add ``value`` to the pending subgroup; the subgroup once it is full."""
    stream.pending.append(value)
    stream.pending_id = subgroup
    stream.pending_ts = ts
    if len(stream.pending) >= stream.subgroup_size:
        closed, stream.pending, stream.pending_id = stream.pending, [], None
        return closed
    return None


def add_to_vector(
    stream: Stream, part: str, name: str, value: float
) -> tuple[dict[str, float] | None, int]:
    """Add one parameter of ``part``'s vector: the whole vector once complete, and how
    many incomplete vectors were dropped to keep :data:`MAX_PENDING_VECTORS`."""
    spec = stream.spec
    assert isinstance(spec, MultivariateConfig)
    values = stream.vectors.setdefault(part, {})
    values[name] = value
    if len(values) < len(spec.parameters):
        dropped = 0
        while len(stream.vectors) > MAX_PENDING_VECTORS:
            del stream.vectors[next(iter(stream.vectors))]
            dropped += 1
        return None, dropped
    del stream.vectors[part]
    return values, 0
