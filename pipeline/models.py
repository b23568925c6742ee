"""Records on the wire, what the pipeline emits, and the Source/Sink protocols.

This is the one module of ``pipeline/`` that ``connectors/`` imports. Wire records are
``msgspec`` structs tagged by ``kind``: msgspec decodes and validates JSON in one pass,
in C, and its errors name the field (``Expected `float`, got `str` - at `$.value```).

>>> import msgspec
>>> raw = b'{"kind":"measurement","ts":"2026-11-23T08:00:00.125Z","line":"L3",'
>>> raw += b'"station":"weld-2","characteristic":"nugget_dia_mm","value":5.42}'
>>> record = msgspec.json.decode(raw, type=WireRecord)
>>> record.characteristic, record.value, record.ts.isoformat()
('nugget_dia_mm', 5.42, '2026-11-23T08:00:00.125000+00:00')
>>> record.stream_key
'L3/weld-2'
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, NamedTuple, Protocol, runtime_checkable

import msgspec

__all__ = [
    "KIND_TYPES",
    "STORAGE_SCHEMA",
    "Alert",
    "AlertAnnotation",
    "Attribute",
    "AwareDatetime",
    "BackpressureError",
    "ChartPoint",
    "DeadLetter",
    "Inspection",
    "KeyedSource",
    "KeyedStateHost",
    "Kpi",
    "Measurement",
    "ModelScore",
    "Notification",
    "Output",
    "Parameter",
    "PartitionOffset",
    "RawRecord",
    "Sink",
    "SinkError",
    "Source",
    "WireRecord",
    "alert_annotations",
    "alert_labels",
]

#: Timestamps must carry a zone: a naive one on the wire is a validation error.
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
#: Ids of lines, stations, equipment and streams: no `/` (it joins them into keys) or spaces.
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=r"^[^/\s]+$")]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
#: Event times this far out are typos or corrupt clocks, and break window arithmetic.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
Count = Annotated[int, msgspec.Meta(ge=0)]


def _require_finite(value: float, field_name: str) -> None:
    if not math.isfinite(value):
        raise ValueError(f"`{field_name}` must be a finite number, got {value!r}")


class _Wire(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind"):
    ts: AwareDatetime
    line: Name
    station: Name

    def __post_init__(self) -> None:
        if not EARLIEST <= self.ts < LATEST:
            raise ValueError(f"`ts` {self.ts.isoformat()} is outside 1970-2199")

    @property
    def stream_key(self) -> str:
        """Kafka key and partitioning unit: one line-station lives in one partition."""
        return f"{self.line}/{self.station}"


class Parameter(_Wire, frozen=True, kw_only=True, tag="parameter"):
    """An equipment parameter reading (temperature, pressure, current...)."""

    equipment: Name
    name: Name
    value: float
    part_id: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _require_finite(self.value, "value")


class Measurement(_Wire, frozen=True, kw_only=True, tag="measurement"):
    """A measured quality characteristic of a part, optionally in a rational subgroup."""

    characteristic: Name
    value: float
    subgroup: str | None = None
    part_id: str | None = None
    product: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _require_finite(self.value, "value")


class Inspection(_Wire, frozen=True, kw_only=True, tag="inspection"):
    """A part's inspection result: pass/fail, defect count and codes, rework."""

    part_id: Text
    result: Literal["pass", "fail"]
    defects: Count = 0
    defect_codes: list[Text] = msgspec.field(default_factory=list)
    rework: bool = False


class Attribute(_Wire, frozen=True, kw_only=True, tag="attribute"):
    """A count of nonconforming units in an inspected lot, for p/np charts."""

    characteristic: Name
    inspected: Annotated[int, msgspec.Meta(ge=1)]
    nonconforming: Count

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.nonconforming > self.inspected:
            raise ValueError(
                f"`nonconforming` ({self.nonconforming}) exceeds `inspected` ({self.inspected})"
            )


WireRecord = Parameter | Measurement | Inspection | Attribute

KIND_TYPES: dict[str, type[_Wire]] = {
    "parameter": Parameter,
    "measurement": Measurement,
    "inspection": Inspection,
    "attribute": Attribute,
}


class PartitionOffset(NamedTuple):
    """Where a record of a partitioned log (Kafka) sits: topic, partition, offset."""

    topic: str
    partition: int
    offset: int


# Not frozen: a frozen dataclass sets each field through object.__setattr__, which made
# building one 1.6 us instead of 0.6 (a Kafka poll builds one per message). Nothing
# changes a record after its source built it.
@dataclass(slots=True)
class RawRecord:
    """What a source hands over before decoding: payload plus where it came from.

    ``payload`` is the bytes of one wire message, a mapping of column name to cell (CSV
    and Parquet rows), or an already-built record (the simulator). ``origin`` names the
    place for error messages and dead letters (``line.jsonl:42``, ``topic/3@1200``).
    """

    payload: bytes | dict[str, Any] | WireRecord
    origin: str
    key: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = ()
    position: Any = None


class _Out(msgspec.Struct, frozen=True, kw_only=True):
    """Base of everything the pipeline emits to sinks."""


class ChartPoint(_Out, frozen=True, kw_only=True, tag="chart_point", tag_field="type"):
    """One plotted SPC statistic with its limits (InfluxDB measurement ``spc_point``)."""

    ts: AwareDatetime
    line: str
    station: str
    characteristic: str
    chart: str
    value: float
    cl: float | None
    ucl: float | None
    lcl: float | None
    zone: str
    limits_version: int
    violations: list[str] = msgspec.field(default_factory=list)
    #: ``I``: one of the phase-I points that estimated these limits (judged after the fact);
    #: ``II``: judged against limits set before it (or given ones); ``None``: not known
    #: (points written before the field).
    phase: Literal["I", "II"] | None = None


class Alert(_Out, frozen=True, kw_only=True, tag="alert", tag_field="type"):
    """A rule's alert. ``fingerprint`` is stable per line/station/characteristic/rule."""

    alert_id: str
    fingerprint: str
    status: Literal["firing", "resolved"]
    ts: AwareDatetime
    starts_at: AwareDatetime
    ends_at: AwareDatetime | None
    line: str
    station: str
    characteristic: str
    chart: str
    rule: str
    severity: Literal["critical", "warning", "info"]
    value: float
    cl: float | None
    ucl: float | None
    lcl: float | None
    message: str
    occurrences: int = 1
    #: Processing time the pipeline first emitted it (``ts`` is event time; a resolve keeps
    #: its firing's); None in old records and where no clock was given.
    emitted_at: AwareDatetime | None = None
    #: Where the limits it was judged against came from: their version on the chart
    #: (``ChartPoint.limits_version``) and the event-time window of the phase-I points that
    #: estimated them (``limits_from`` .. ``limits_to``). Given limits have a version and
    #: no window; ``spec`` alerts (judged against lsl/usl) and old records have none.
    limits_version: int | None = None
    limits_from: AwareDatetime | None = None
    limits_to: AwareDatetime | None = None


def alert_labels(alert: Alert) -> dict[str, str]:
    """Alertmanager-style labels of an alert: what routes, groups and silences match on."""
    return {
        "alertname": alert.rule,
        "line": alert.line,
        "station": alert.station,
        "characteristic": alert.characteristic,
        "chart": alert.chart,
        "rule": alert.rule,
        "severity": alert.severity,
    }


def alert_annotations(alert: Alert) -> dict[str, str]:
    """Alertmanager-style annotations: the message and the numbers, as text."""
    notes = {"summary": alert.message, "value": f"{alert.value:g}"}
    for name, limit in (("cl", alert.cl), ("ucl", alert.ucl), ("lcl", alert.lcl)):
        if limit is not None:
            notes[name] = f"{limit:g}"
    if alert.limits_version is not None:
        notes["limits_version"] = str(alert.limits_version)
    for name, at in (("limits_from", alert.limits_from), ("limits_to", alert.limits_to)):
        if at is not None:
            notes[name] = at.isoformat()
    return notes


class Notification(msgspec.Struct, frozen=True, kw_only=True):
    """One notification of a group of alerts to one receiver (what receivers format).

    ``key`` is the idempotency key: the same notification re-sent after a crash or a retry
    carries the same key. ``truncated`` alerts were left out (the receiver's ``max_alerts``).
    """

    key: str
    receiver: str
    status: Literal["firing", "resolved"]
    group_key: str
    group_labels: dict[str, str]
    common_labels: dict[str, str]
    common_annotations: dict[str, str]
    alerts: list[Alert]
    truncated: int = 0
    created_at: AwareDatetime


class Kpi(_Out, frozen=True, kw_only=True, tag="kpi", tag_field="type"):
    """A rolling key figure (``kpi``).

    Station KPIs (fpy, defect_rate, dpu, rework_rate) cover ``window_s`` seconds of
    inspections. Capability KPIs (cp, cpk, pp, ppk) name their ``characteristic``, cover
    ``window_n`` values, and carry the confidence bounds ``lower``/``upper``.
    """

    ts: AwareDatetime
    line: str
    station: str
    kpi: str
    value: float
    window_s: float
    characteristic: str | None = None
    window_n: int | None = None
    lower: float | None = None
    upper: float | None = None


class ModelScore(_Out, frozen=True, kw_only=True, tag="model_score", tag_field="type"):
    """One judgement of a station's model (InfluxDB measurement ``model_score``).

    ``score`` is in [0, 1] and alarms beyond ``threshold``. ``equipment`` is the equipment
    the model watches (the station's name when its variables span several).
    ``predicted_defect_p`` is a defect predictor's P(defect) of the part just made;
    ``contributions`` are the top parameters behind the score, largest first.
    """

    ts: AwareDatetime
    line: str
    station: str
    equipment: str
    model: str
    score: float
    threshold: float
    predicted_defect_p: float | None = None
    contributions: list[tuple[str, float]] = msgspec.field(default_factory=list)


class DeadLetter(_Out, frozen=True, kw_only=True, tag="dead_letter", tag_field="type"):
    """A record that could not be used, kept whole with the reason."""

    ts: AwareDatetime
    origin: str
    reason: str
    payload: str
    payload_encoding: Literal["utf-8", "base64", "json"]
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    key: str | None = None
    source: dict[str, str | int] = msgspec.field(default_factory=dict)

    def original_bytes(self) -> bytes:
        """The payload exactly as it arrived (a CSV/Parquet row as its JSON)."""
        if self.payload_encoding == "base64":
            return base64.b64decode(self.payload)
        return self.payload.encode("utf-8")


class AlertAnnotation(_Out, frozen=True, kw_only=True, tag="alert_annotation", tag_field="type"):
    """A person's note on an alert (``linewatch serve``): an acknowledgement or its cause.

    ``kind`` is ``ack`` or ``cause``; a cause carries the assignable ``cause`` (from the
    configured list) and the corrective ``action``; ``text`` is free. ``ts`` is when it was
    recorded (processing time), so it shows on the SPC chart at that moment.
    """

    ts: AwareDatetime
    line: str
    station: str
    characteristic: str
    rule: str
    alert_id: str
    fingerprint: str
    kind: Literal["ack", "cause"]
    author: str
    cause: str = ""
    action: str = ""
    text: str = ""


Output = ChartPoint | Alert | Kpi | ModelScore | DeadLetter | AlertAnnotation

#: The storage schema (InfluxDB): measurement -> (tag keys, field keys). Tags are
#: low-cardinality and identify a series; ids (part, alert, fingerprint) are fields. Two
#: items with the same measurement, tags and timestamp are the same point, so a record
#: written twice after an at-least-once redelivery overwrites itself. The Influx sink, the
#: replay source and the Grafana boards all follow this table.
STORAGE_SCHEMA: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "process_param": (("line", "station", "equipment", "name"), ("value", "part_id")),
    "measurement": (
        ("line", "station", "characteristic"),
        ("value", "subgroup", "part_id", "product"),
    ),
    "inspection": (("line", "station", "result"), ("part_id", "defects", "defect_codes", "rework")),
    "attribute": (("line", "station", "characteristic"), ("inspected", "nonconforming")),
    "spc_point": (
        ("line", "station", "characteristic", "chart"),
        ("value", "cl", "ucl", "lcl", "zone", "limits_version", "violations", "phase"),
    ),
    "spc_alert": (
        ("line", "station", "characteristic", "chart", "rule", "severity", "status"),
        (
            "value",
            "message",
            "fingerprint",
            "alert_id",
            "cl",
            "ucl",
            "lcl",
            "starts_at",
            "ends_at",
            "occurrences",
            "limits_version",
            "limits_from",
            "limits_to",
        ),
    ),
    "kpi": (
        ("line", "station", "kpi", "characteristic"),
        ("value", "window_s", "window_n", "lower", "upper"),
    ),
    "alert_annotation": (
        ("line", "station", "characteristic", "rule"),
        ("alert_id", "fingerprint", "kind", "cause", "action", "author", "text"),
    ),
    "model_score": (
        ("line", "station", "equipment", "model"),
        ("score", "threshold", "predicted_defect_p"),
    ),
}


class SinkError(RuntimeError):
    """A sink could not take or flush its items."""


class BackpressureError(SinkError):
    """The sink is full or its server is away; try again after ``retry_after`` seconds.

    The runner stops polling and does not commit until the sink accepts a flush.
    """

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@runtime_checkable
class Source(Protocol):
    """Where records come from. ``commit`` is called only after every sink flushed.

    A source is built with its resume state: its constructor takes ``resume=``, the
    plain data its :meth:`snapshot` gave at the last checkpoint (None: from the start).
    """

    def poll(self, timeout: float) -> list[RawRecord]:
        """Up to one batch of records; an empty list when none are ready."""
        ...

    def commit(self) -> None:
        """Mark everything polled so far as done."""
        ...

    @property
    def exhausted(self) -> bool:
        """True once a finite source (a file, a bounded replay) has nothing more."""
        ...

    def snapshot(self) -> dict[str, Any]:
        """Its resume state, JSON-able plain data, saved with a checkpoint."""
        ...

    def close(self) -> None: ...


class KeyedStateHost(Protocol):
    """What a :class:`KeyedSource` may ask of the runner: per-key detector state."""

    def revoking(self) -> None:
        """Keys are about to leave this worker: flush every sink first."""
        ...

    def snapshot_key(self, key: str) -> Any: ...

    def restore_key(self, key: str, state: Any) -> None: ...

    def drop_key(self, key: str) -> None: ...


@runtime_checkable
class KeyedSource(Source, Protocol):
    """A source whose per-key state moves between workers (Kafka partitions).

    The runner attaches itself once, before the first poll, and asks for every decoded
    record whether it still has to be applied (a record read again after a rebalance or a
    crash, whose effect the key's state already holds, has not).
    """

    def attach(self, host: KeyedStateHost) -> None: ...

    def should_apply(self, key: str, raw: RawRecord) -> bool: ...


@runtime_checkable
class Sink(Protocol):
    """Where outputs go: ``add`` per item, ``flush`` at a checkpoint.

    Sinks routed ``records`` also take the valid wire records themselves.
    """

    def add(self, item: Output | WireRecord) -> None: ...

    def flush(self) -> None:
        """Make everything added durable; may raise :class:`BackpressureError`."""
        ...

    def close(self) -> None: ...
