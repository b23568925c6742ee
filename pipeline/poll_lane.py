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
goes record by record). A laned key's state becomes the base of a poison-pill rebuild, as
a checkpoint's would. The outputs, dead letters and raw records reach the sinks in the
per-record order (:class:`~linewatch.pipeline.capture.OutputCapture`), so a run gives the
same alerts, points, KPIs, dead letters and state as ``--per-record`` does
(``tests/unit/test_poll_lane.py``). A job whose records are forwarded to a line stage
(a defect predictor) keeps the per-record path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np

from linewatch.pipeline.capture import OutputCapture
from linewatch.pipeline.columnar_lane import KeyColumns, lane_key, lane_takes
from linewatch.pipeline.models import Measurement, Parameter, RawRecord, WireRecord

if TYPE_CHECKING:
    from linewatch.pipeline.runner import Runner

__all__ = ["LEAST_KEY_ROWS", "PollLane", "decode_batch"]

#: Fewest records of one key in a batch worth laning; fewer go record by record.
LEAST_KEY_ROWS = 16
_UTC_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_decoder = msgspec.json.Decoder(WireRecord)


def decode_batch(payloads: Sequence[Any]) -> list[WireRecord | None]:
    """Each payload's record, or ``None`` where the per-record decode must say why not.

    >>> good = b'{"kind":"measurement","ts":"2026-11-02T06:00:00Z","line":"L1",'
    >>> good += b'"station":"s","characteristic":"d","value":1.5}'
    >>> [type(r).__name__ for r in decode_batch([good, b"{", good.replace(b"1.5", b"2")])]
    ['Measurement', 'NoneType', 'Measurement']
    """
    n = len(payloads)
    if all(type(p) is bytes for p in payloads):
        joined = b"\n".join(payloads)
        if joined.count(b"\n") == n - 1:  # no payload holds a newline: one line each
            try:
                records: list[WireRecord | None] = list(_decoder.decode_lines(joined))
            except (msgspec.DecodeError, ValueError, TypeError):
                pass
            else:
                if len(records) == n:
                    return records
    found: list[WireRecord | None] = []
    for payload in payloads:
        try:
            found.append(_decoder.decode(payload) if type(payload) is bytes else None)
        except (msgspec.DecodeError, ValueError, TypeError, RecursionError):
            found.append(None)
    return found


class PollLane:
    """Processes a runner's poll batches, laning the keys it can (see the module)."""

    def __init__(self, least_key_rows: int = LEAST_KEY_ROWS) -> None:
        self.least_key_rows = least_key_rows
        self.batches = 0
        self.rows_laned = 0

    def run_batch(self, runner: Runner, batch: list[RawRecord]) -> None:
        """Process ``batch`` as :meth:`Runner._handle` would, record by record."""
        least = self.least_key_rows
        if len(batch) < least or runner.forward is not None:
            for raw in batch:
                runner._handle(raw)
            return
        self.batches += 1
        records = decode_batch([raw.payload for raw in batch])
        by_key: dict[str, list[int]] = {}
        lane_types = (Measurement, Parameter)
        for row, record in enumerate(records):
            if record is not None:
                key = f"{record.line}/{record.station}"
                rows = by_key.get(key)
                if rows is None:
                    by_key[key] = [row]
                else:
                    rows.append(row)
        apply_all: Callable[[str, Sequence[RawRecord]], bool] | None = None
        if runner._should_apply is not None:
            apply_all = getattr(runner.source, "should_apply_all", None)
            if apply_all is None:  # a keyed source that cannot answer per key
                for raw in batch:
                    runner._handle(raw)
                return
        done = bytearray(len(batch))
        with OutputCapture(runner) as capture:
            for key, rows in by_key.items():
                if len(rows) < least:
                    continue
                key_records = [records[row] for row in rows]
                if not all(type(r) in lane_types and r.ts.tzinfo is UTC for r in key_records):  # type: ignore[union-attr]
                    continue
                columns = _key_columns(rows, key_records)  # type: ignore[arg-type]
                if columns is None or not lane_takes(runner.engine, columns):
                    continue
                if apply_all is not None and not apply_all(key, [batch[row] for row in rows]):
                    continue
                if not self._lane(runner, capture, key, columns, key_records):  # type: ignore[arg-type]
                    continue
                for row in rows:
                    done[row] = 1
            # The rest in batch order: what the lane did not take keeps its whole order.
            for row, raw in enumerate(batch):
                if not done[row]:
                    capture.row = row
                    runner._handle(raw, records[row])
        capture.replay()

    def _lane(
        self,
        runner: Runner,
        capture: OutputCapture,
        key: str,
        columns: KeyColumns,
        key_records: list[WireRecord],
    ) -> bool:
        engine = runner.engine
        # The base of a rebuild is the key's state as it is, when no record came since.
        now = runner._base.get(key) if not runner._since_base.get(key) else None
        tagged = lane_key(engine, columns, now)
        if tagged is None:
            return False
        rows = columns.rows
        runner._handled += rows.size
        runner.summary.records_processed += rows.size
        # The key's state now includes these records: the base of a poison-pill rebuild.
        runner._since_base.pop(key, None)
        runner._base[key] = engine.snapshot_key(key)
        capture.laned(tagged)
        if capture.sinks:
            for row, record in zip(rows.tolist(), key_records, strict=True):
                capture.record_at(row, record)
        self.rows_laned += rows.size
        return True


def _key_columns(rows: list[int], records: list[Measurement | Parameter]) -> KeyColumns | None:
    """One key's records as columns; ``None`` if a time is not exact in float seconds."""
    seconds = np.array([r.ts.timestamp() for r in records], dtype=np.float64)
    micros = np.rint(seconds * 1e6).astype(np.int64)
    if not (micros / 1e6 == seconds).all():  # the lane's clock reads micros / 1e6
        return None
    index: dict[str, int] = {}
    names: list[str] = []
    kinds: list[str] = []
    stream = []
    for record in records:
        if type(record) is Measurement:
            name, kind = record.characteristic, "measurement"
        else:
            name, kind = f"{record.equipment}/{record.name}", "parameter"  # type: ignore[union-attr]
        at = index.get(name)
        if at is None:
            at = index[name] = len(names)
            names.append(name)
            kinds.append(kind)
        stream.append(at)
    first = records[0]
    return KeyColumns(
        first.line,
        first.station,
        micros,
        np.array(stream, dtype=np.intp),
        names,
        kinds,
        np.array([r.value for r in records], dtype=np.float64),
        np.array(rows, dtype=np.intp),
        _UTC_EPOCH,
    )
