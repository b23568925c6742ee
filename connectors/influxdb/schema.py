"""The storage schema applied to items: which measurement, tags and fields each item writes.

:data:`MEASUREMENT_OF` maps an output or wire-record type to its measurement in
:data:`linewatch.pipeline.models.STORAGE_SCHEMA`; :func:`item_line` encodes one item;
:data:`RAW_MEASUREMENTS` names the measurements that replay reads back as raw records.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

import msgspec

from linewatch.connectors.influxdb.lineprotocol import (
    FieldValue,
    LineProtocolError,
    escape_string,
    field_key,
    format_field_value,
    series_key,
    to_ns,
)
from linewatch.pipeline.models import (
    STORAGE_SCHEMA,
    Alert,
    AlertAnnotation,
    Attribute,
    ChartPoint,
    Inspection,
    Kpi,
    Measurement,
    ModelScore,
    Output,
    Parameter,
    WireRecord,
)

__all__ = ["MEASUREMENT_OF", "RAW_MEASUREMENTS", "item_line", "schema_markdown"]

#: Raw-record measurements and the wire ``kind`` each holds (what replay reads back).
RAW_MEASUREMENTS: dict[str, str] = {
    "process_param": "parameter",
    "measurement": "measurement",
    "inspection": "inspection",
    "attribute": "attribute",
}


# Field formatters by InfluxDB type, whatever Python type the item holds at run time: a
# field's type is fixed per shard, so a float once written as `5i` would be refused later.
# Each gives the field's text, or None to leave the field out.


def _float_text(value: float | None) -> str | None:
    if value is None:
        return None
    number = float(value)
    return repr(number) if number - number == 0.0 else None  # NaN and inf: left out


def _int_text(value: int | None) -> str | None:
    return None if value is None else format_field_value(int(value))


def _str_text(value: str | None) -> str | None:
    if value is None:
        return None
    if '"' in value or "\\" in value:
        return escape_string(value)
    return f'"{value}"'


def _bool_text(value: bool) -> str:
    return "true" if value else "false"


def _joined_text(values: Sequence[str]) -> str:
    return escape_string("|".join(values))


def _any_text(value: FieldValue | None) -> str | None:
    # A field the table below does not know yet: typed by its Python value.
    return None if value is None else format_field_value(value)


def _time_text(ts: datetime | None) -> str | None:
    return None if ts is None else f'"{ts.isoformat()}"'


_FORMAT: dict[str, Callable[[Any], str | None]] = {
    **dict.fromkeys(
        (
            "value",
            "cl",
            "ucl",
            "lcl",
            "window_s",
            "lower",
            "upper",
            "score",
            "threshold",
            "predicted_defect_p",
        ),
        _float_text,
    ),
    **dict.fromkeys(
        ("limits_version", "occurrences", "defects", "inspected", "nonconforming", "window_n"),
        _int_text,
    ),
    **dict.fromkeys(
        (
            "zone",
            "phase",
            "message",
            "fingerprint",
            "alert_id",
            "part_id",
            "subgroup",
            "product",
            "kind",
            "cause",
            "action",
            "author",
            "text",
        ),
        _str_text,
    ),
    "violations": _joined_text,
    "defect_codes": _joined_text,
    "starts_at": _time_text,
    "ends_at": _time_text,
    "limits_from": _time_text,
    "limits_to": _time_text,
    "rework": _bool_text,
}

#: The measurement each item type is written to.
MEASUREMENT_OF: dict[type[msgspec.Struct], str] = {
    ChartPoint: "spc_point",
    Alert: "spc_alert",
    AlertAnnotation: "alert_annotation",
    Kpi: "kpi",
    ModelScore: "model_score",
    Parameter: "process_param",
    Measurement: "measurement",
    Inspection: "inspection",
    Attribute: "attribute",
}

_Spec = tuple[str, tuple[str, ...], tuple[tuple[str, str, Callable[[Any], str | None]], ...]]


def _spec(kind: type[msgspec.Struct], measurement: str) -> _Spec:
    tags, fields = STORAGE_SCHEMA[measurement]
    missing = [key for key in (*tags, *fields) if key not in kind.__struct_fields__]
    if missing:  # the schema and the models moved apart: fail at import, not mid-stream
        raise RuntimeError(f"{kind.__name__} has no {missing} for InfluxDB's {measurement}")
    return (
        measurement,
        tags,
        tuple((key, f"{field_key(key)}=", _FORMAT.get(key, _any_text)) for key in fields),
    )


_SPECS: dict[type[msgspec.Struct], _Spec] = {
    kind: _spec(kind, m) for kind, m in MEASUREMENT_OF.items()
}


def schema_markdown() -> str:
    """The storage schema as a Markdown table (for the README).

    >>> print(schema_markdown().splitlines()[2])
    | `process_param` | line, station, equipment, name | value, part_id |
    """
    rows = ["| measurement | tags | fields |", "|---|---|---|"]
    for measurement, (tags, fields) in STORAGE_SCHEMA.items():
        rows.append(f"| `{measurement}` | {', '.join(tags)} | {', '.join(fields)} |")
    return "\n".join(rows)


@lru_cache(maxsize=65_536)
def _itemseries_key(measurement: str, keys: tuple[str, ...], values: tuple[str, ...]) -> str:
    return series_key(measurement, tuple(zip(keys, values, strict=True)))


def item_line(item: Output | WireRecord) -> str | None:
    """The line protocol of one sink item, by the storage schema; None for items not kept.

    Dead letters go to a dead-letter sink, not to InfluxDB.

    >>> from linewatch.connectors.influxdb.lineprotocol import from_ns
    >>> from linewatch.pipeline.models import Kpi
    >>> item_line(Kpi(ts=from_ns(10**18), line="L3", station="final", kpi="fpy",
    ...               value=0.97, window_s=3600))
    'kpi,kpi=fpy,line=L3,station=final value=0.97,window_s=3600.0 1000000000000000000'
    """
    spec = _SPECS.get(type(item))
    if spec is None:
        return None
    measurement, tags, fields = spec
    series = _itemseries_key(measurement, tags, tuple([getattr(item, key) for key in tags]))
    parts = []
    for key, prefix, text_of in fields:
        text = text_of(getattr(item, key))
        if text is not None:
            parts.append(prefix + text)
    if not parts:
        raise LineProtocolError(f"{measurement}: a point needs at least one field")
    return f"{series} {','.join(parts)} {to_ns(item.ts)}"
