"""InfluxDB: a durable sink for points, alerts, KPIs and raw records, and a replay source.

The schema is :data:`linewatch.pipeline.models.STORAGE_SCHEMA` (measurement -> tags, fields; tags are
low-cardinality, IDs are fields); :func:`schema_markdown` renders it for the README. Items
go to ``spc_point`` (ChartPoint), ``spc_alert`` (Alert), ``kpi`` (Kpi), ``process_param``
(Parameter), ``measurement``, ``inspection`` and ``attribute`` (the wire records of those
kinds); ``model_score`` waits for its output type. Timestamps are the item's event time in
ns. Lists (``violations``, ``defect_codes``) are joined with ``|``; ``starts_at`` and
``ends_at`` are RFC 3339 strings; ``None`` tags and fields and non-finite floats are left
out (InfluxDB has no null or NaN). A point's identity is its series (measurement + tags)
and its timestamp, so writing the same item twice overwrites it: an at-least-once
redelivery does not duplicate anything.

:class:`InfluxSink` writes line protocol, gzip-compressed, in batches, through the v1
``/write`` API (``api="v1"``, plain HTTP) or the v2 API (``api="v2"``, influxdb-client;
InfluxDB 2.x/3.x and the ``/api/v2/write`` compatibility endpoint of 1.8+, bucket
``db/rp``). Writes are synchronous and never dropped: a failed write is retried with backoff;
while the server stays away, batches are spooled (:mod:`linewatch.connectors.spool`, a bounded
directory of fsynced files) and replayed in order when it is back; a full spool makes :meth:`InfluxSink.flush` raise
:class:`~linewatch.pipeline.models.BackpressureError`. Lines the server refuses as bad data (HTTP 400)
are isolated by bisection and kept, with the server's message, in ``rejected.jsonl``.

:class:`InfluxSource` reads a time range of raw records back, in time order and in pages,
with InfluxQL on ``/query`` (1.x, and the v1 compatibility API of 1.8+/2.x).

Modules, one job each: :mod:`.lineprotocol` (escaping, values, timestamps, splitting a
body), :mod:`.schema` (items to lines by the storage schema), :mod:`.url` (``influx://``
URLs), :mod:`.transport` (client libraries, error messages), :mod:`.writers` (v1 ``/write``
and the v2 API), :mod:`.sink` and :mod:`.source`. The public names are re-exported here.
"""

from linewatch.connectors.influxdb.lineprotocol import (
    LineProtocolError,
    encode_line,
    escape_key,
    escape_measurement,
    escape_string,
    format_field_value,
    from_ns,
    split_lines,
    to_ns,
)
from linewatch.connectors.influxdb.schema import (
    MEASUREMENT_OF,
    RAW_MEASUREMENTS,
    item_line,
    schema_markdown,
)
from linewatch.connectors.influxdb.sink import InfluxSink
from linewatch.connectors.influxdb.source import InfluxSource, InfluxSourceError
from linewatch.connectors.influxdb.url import InfluxSettings, parse_influx_url

__all__ = [
    "MEASUREMENT_OF",
    "RAW_MEASUREMENTS",
    "InfluxSettings",
    "InfluxSink",
    "InfluxSource",
    "InfluxSourceError",
    "LineProtocolError",
    "encode_line",
    "escape_key",
    "escape_measurement",
    "escape_string",
    "format_field_value",
    "from_ns",
    "item_line",
    "parse_influx_url",
    "schema_markdown",
    "split_lines",
    "to_ns",
]
