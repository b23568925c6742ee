"""Poll batches of JSON records through the columnar lane (``linewatch run``, Kafka and JSONL).

A batch of byte payloads is decoded in one msgspec call (the payloads joined as NDJSON,
when none of them holds a newline; one by one otherwise, or when one is bad), and its
records are grouped by ``line/station``. A key whose every record in the batch is a
measurement or parameter in UTC, whose configuration the lane takes
(:func:`~linewatch.pipeline.columnar_lane.lane_takes`) and which has at least
:data:`LEAST_KEY_ROWS` records goes to :func:`~linewatch.pipeline.columnar_lane.lane_key`
whole; everything else (inspections, attributes, dead letters, keys with models or
subgroups, and a key the lane cannot prove safe: a late, future or implausible record)
goes record by record through the runner, in batch order, afterwards.

**What stays as in the per-record path.** A Kafka source's applied-offset bookkeeping is
asked once per key (``should_apply_all``; a key with a record its state already holds
goes record by record). A laned key's payloads join its records since the last
checkpoint, as the per-record path keeps them for a poison-pill rebuild, and a chart that
raises part-way is put back by that rebuild. The outputs, dead letters and raw records reach the sinks in the
per-record order (:class:`~linewatch.pipeline.capture.OutputCapture`), so a run gives the
same alerts, points, KPIs, dead letters and state as ``--per-record`` does
(``tests/unit/test_poll_lane.py``). A job whose records are forwarded to a line stage
(a defect predictor) keeps the per-record path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np

from linewatch.pipeline.capture import OutputCapture
from linewatch.pipeline.columnar_lane import KeyColumns, lane_key, lane_takes, valid_name
from linewatch.pipeline.decode import decode
from linewatch.pipeline.models import EARLIEST, LATEST, DeadLetter, RawRecord, WireRecord

if TYPE_CHECKING:
    from linewatch.pipeline.runner import Runner

__all__ = ["LEAST_KEY_ROWS", "PollLane", "decode_rows"]

#: Fewest records of one key in a batch worth laning; fewer go record by record.
LEAST_KEY_ROWS = 16
_UTC_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EARLIEST_US = int(EARLIEST.timestamp() * 1_000_000)
_LATEST_US = int(LATEST.timestamp() * 1_000_000)


class _Row(msgspec.Struct, gc=False):
    """The fields the lane reads, as plain types: msgspec checks the names' patterns with
    Python's ``re`` and runs ``__post_init__`` per record, which together cost more than
    the parse; the lane checks the same things once per distinct name and per column.
    The optional fields carry the wire's types, so a wrong one fails here (the wire decode,
    which ignores another kind's fields, then judges the row). A field given twice is read
    by its last copy here but checked in every copy by the wire decode (and the tag by its
    first): :func:`_fields_once` sends such payloads to the wire decode."""

    kind: str
    ts: datetime
    line: str
    station: str
    characteristic: str | None = None
    equipment: str | None = None
    name: str | None = None
    value: float | None = None
    subgroup: str | None = None
    part_id: str | None = None
    product: str | None = None


_row_decoder = msgspec.json.Decoder(_Row)


#: The fields whose type here is looser than the wire's (a pattern, a zone, no null, the
#: tag). ``subgroup``, ``part_id`` and ``product`` have the wire's own type here, so every
#: copy of them is checked as there.
_REQUIRED_FIELDS = ("kind", "ts", "line", "station")
_OPTIONAL_FIELDS = ("characteristic", "equipment", "name", "value")
_CHECKED = tuple(name.encode() for name in _REQUIRED_FIELDS + _OPTIONAL_FIELDS)
_OPTIONAL = tuple(attrgetter(name) for name in _OPTIONAL_FIELDS)
_QUOTE = ord('"')


def decode_rows(payloads: Sequence[Any]) -> list[_Row | None]:
    """Each payload's fields, or ``None`` where only the per-record decode may judge it.

    A row is a candidate, not a record: the lane takes it only after proving that the
    wire decode would give the same record (see :func:`_key_columns`).

    >>> good = b'{"kind":"measurement","ts":"2026-11-02T06:00:00Z","line":"L1",'
    >>> good += b'"station":"s","characteristic":"d","value":1.5}'
    >>> twice = good.replace(b'"value"', b'"value":null,"value"')
    >>> [r and r.value for r in decode_rows([good, b"{", twice, good.replace(b"1.5", b"2")])]
    [1.5, None, None, 2.0]
    """
    n = len(payloads)
    if all(type(p) is bytes for p in payloads):
        joined = b"\n".join(payloads)
        if joined.count(b"\n") == n - 1:  # no payload holds a newline: one line each
            try:
                rows: list[_Row | None] = list(_row_decoder.decode_lines(joined))
            except (msgspec.DecodeError, ValueError, TypeError, RecursionError):
                pass
            else:
                if len(rows) == n:
                    if _fields_once(joined, rows):  # type: ignore[arg-type]
                        return rows
                    return [
                        row if row is not None and _fields_once(payload, [row]) else None
                        for payload, row in zip(payloads, rows, strict=True)
                    ]
    found: list[_Row | None] = []
    for payload in payloads:
        try:
            row = _row_decoder.decode(payload) if type(payload) is bytes else None
        except (msgspec.DecodeError, ValueError, TypeError, RecursionError):
            row = None
        found.append(row if row is not None and _fields_once(payload, [row]) else None)
    return found


def _fields_once(data: bytes, rows: list[_Row]) -> bool:
    """Whether each of ``rows`` (decoded from ``data``, one payload or several joined) has
    every field it carries exactly once. Without a backslash a JSON string cannot hold a
    quote and a key cannot be escaped, so the quotes of valid JSON pair up into its
    strings, and a string spelling a field's name is that key or a value equal to it: a
    payload holds at least as many as the fields it carries, and a sum over the rows that
    equals the rows that carry it leaves one each.

    >>> row = _row_decoder.decode(b'{"kind":"k","ts":"2026-01-01T00:00:00Z","line":"a",'
    ...                           b'"station":"b","name":"value","value":1}')
    >>> _fields_once(b'{"kind":"k","ts":"t","line":"a","station":"b","value":1}', [row])
    False
    """
    if b"\\" in data:
        return False
    counts = _string_counts(data)
    if counts is None:
        return False
    n = len(rows)
    required = len(_REQUIRED_FIELDS)
    if any(count != n for count in counts[:required]):
        return False
    carried = [n - list(map(field, rows)).count(None) for field in _OPTIONAL]
    return counts[required:] == carried


def _string_counts(data: bytes) -> list[int] | None:
    """How many JSON strings of ``data`` (valid JSON, no backslash) spell each checked
    field name; ``None`` when its quotes do not pair up. One pass over the bytes: eight
    ``bytes.count`` scans took about twice as long (4.4 against 2.4 ms a 5,000-record
    batch; a quote starts every few bytes)."""
    buf = np.frombuffer(data, dtype=np.uint8)
    quotes = np.flatnonzero(buf == _QUOTE)
    if quotes.size % 2:
        return None
    starts = quotes[0::2] + 1
    # a string's length and first byte in one number: one comparison a name
    signatures = (quotes[1::2] - starts) * 256 + buf[starts]
    counts = []
    for name in _CHECKED:
        at = starts[signatures == len(name) * 256 + name[0]]
        for i in range(1, len(name)):
            at = at[buf[at + i] == name[i]]
        counts.append(int(at.size))
    return counts


class PollLane:
    """Processes a runner's poll batches, laning the keys it can (see the module)."""

    def __init__(self, least_key_rows: int = LEAST_KEY_ROWS) -> None:
        self.least_key_rows = least_key_rows
        self.rows_laned = 0

    def run_batch(self, runner: Runner, batch: list[RawRecord]) -> None:
        """Process ``batch`` as :meth:`Runner._handle` would, record by record."""
        least = self.least_key_rows
        if len(batch) < least or runner.forward is not None:
            for raw in batch:
                runner._handle(raw)
            return
        rows_read: list[_Row | WireRecord | None] = list(
            decode_rows([raw.payload for raw in batch])
        )
        by_key: dict[tuple[str, str], list[int]] = {}
        for row, found in enumerate(rows_read):
            if found is None:  # the wire decode judges it; a record it gives holds its key
                try:
                    record = decode(batch[row])
                except Exception:  # a decode bug: the runner's _handle quarantines it
                    continue
                if isinstance(record, DeadLetter):
                    continue
                rows_read[row] = found = record
            pair = (found.line, found.station)
            rows = by_key.get(pair)
            if rows is None:
                by_key[pair] = [row]
            else:
                rows.append(row)
        apply_all: Callable[[str, Sequence[RawRecord], bool], bool] | None = None
        if runner._should_apply is not None:
            apply_all = getattr(runner.source, "should_apply_all", None)
            if apply_all is None:  # a keyed source that cannot answer per key
                for raw in batch:
                    runner._handle(raw)
                return
        done = bytearray(len(batch))
        with OutputCapture(runner) as capture:
            for (line, station), rows in by_key.items():
                if len(rows) < least or not (valid_name(line) and valid_name(station)):
                    continue
                columns = _key_columns(line, station, rows, [rows_read[r] for r in rows])  # type: ignore[misc]
                if columns is None or not lane_takes(runner.engine, columns):
                    continue
                key = f"{line}/{station}"
                raws = [batch[row] for row in rows]
                if apply_all is not None and not apply_all(key, raws, False):
                    continue
                if not self._lane(runner, capture, key, columns, batch):
                    continue  # unmarked: record by record, each asked as usual
                if apply_all is not None:
                    apply_all(key, raws, True)
                for row in rows:
                    done[row] = 1
            # The rest in batch order: what the lane did not take keeps its whole order.
            for row, raw in enumerate(batch):
                if not done[row]:
                    capture.row = row
                    found = rows_read[row]
                    runner._handle(raw, None if type(found) is _Row else found)  # type: ignore[arg-type]
        capture.replay()

    def _lane(
        self,
        runner: Runner,
        capture: OutputCapture,
        key: str,
        columns: KeyColumns,
        batch: list[RawRecord],
    ) -> bool:
        engine = runner.engine
        tagged = lane_key(engine, columns, restore=lambda: runner.rebuild_key(key))
        if tagged is None:
            return False
        rows = columns.rows
        runner._handled += rows.size
        runner.summary.records_processed += rows.size
        # Kept as the per-record path keeps them: a poison pill later rebuilds the key
        # from its base and these (no snapshot per batch).
        since = runner._since_base.get(key)
        if since is None:
            since = runner._since_base[key] = []
        since.extend([batch[row].payload for row in rows.tolist()])
        capture.laned(tagged)
        if capture.sinks:  # the sinks that keep raw records get the wire records
            for row in rows.tolist():
                record = decode(batch[row])
                assert not isinstance(record, DeadLetter)  # proven decodable
                capture.record_at(row, record)
        self.rows_laned += rows.size
        return True


def _key_columns(
    line: str, station: str, rows: list[int], found: list[_Row | WireRecord]
) -> KeyColumns | None:
    """One key's rows as columns, or ``None`` unless every one would decode as the wire
    record the lane reads: a measurement or parameter whose names are valid, with a
    finite value and a UTC time in 1970-2199 that float seconds hold exactly."""
    index: dict[tuple[str, ...], int] = {}
    names: list[str] = []
    kinds: list[str] = []
    stream = []
    light: list[_Row] = []
    for row in found:
        if type(row) is not _Row:  # a wire record the lane's decode could not read
            return None
        light.append(row)
        kind = row.kind
        if kind == "measurement":
            if row.characteristic is None:
                return None
            parts: tuple[str, ...] = (kind, row.characteristic)
        elif kind == "parameter":
            if row.equipment is None or row.name is None:
                return None
            parts = (kind, row.equipment, row.name)
        else:
            return None
        if row.ts.tzinfo is not UTC or row.value is None:
            return None
        at = index.get(parts)
        if at is None:
            if not all(valid_name(part) for part in parts[1:]):
                return None
            at = index[parts] = len(names)
            names.append("/".join(parts[1:]))
            kinds.append(kind)
        stream.append(at)
    seconds = np.array([r.ts.timestamp() for r in light], dtype=np.float64)
    micros = np.rint(seconds * 1e6).astype(np.int64)
    if not (micros / 1e6 == seconds).all():  # the lane's clock reads micros / 1e6
        return None
    if not ((micros >= _EARLIEST_US) & (micros < _LATEST_US)).all():
        return None
    values = np.array([r.value for r in light], dtype=np.float64)
    if not np.isfinite(values).all():
        return None
    return KeyColumns(
        line,
        station,
        micros,
        np.array(stream, dtype=np.intp),
        names,
        kinds,
        values,
        np.array(rows, dtype=np.intp),
        _UTC_EPOCH,
    )
