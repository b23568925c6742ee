"""Replay of a Parquet file through the columnar lane (``linewatch replay --input x.parquet``).

The file is read a row-group batch at a time as columns (pyarrow); its rows are grouped by
``line/station`` with numpy (a stable argsort keeps each key's arrival order), and a key
whose every row in the batch is a measurement or parameter that decodes (valid names,
zone-aware time in 1970-2199, finite value) goes to :func:`~linewatch.pipeline.columnar_lane.lane_key`.
Everything else takes the runner's per-record path, row by row, in file order: the
inspections and attributes, the rows that would be dead letters, and every row of a key
the lane cannot prove safe (a late, future or implausible record, an unconfigured stream,
a station with models, an ``xbar`` chart...).

**Order.** Keys share no engine state, so each key's records may run apart; the outputs
are then handed to the sinks in the per-record order: every output carries the batch row
that caused it, and the lane's outputs are merged with the per-record rows by row. So the
alerts, KPIs, chart points and dead letters reach the sinks in exactly the order of the
per-record path, across streams too (``tests/unit/test_columnar_replay.py``).

**Differences, by design.** Internal dicts (the engine's streams, the alert manager's
firing alerts) may hold their entries in another insertion order; snapshots compare equal
and the report, which sorts, is the same text. A damaged file is read in batches of a row
group, so fewer of the damaged row group's rows may be handed out; a quarantine (too many
internal errors) is checked once per batch.

``replay --per-record`` (``build_job(columnar=False)``) forces the per-record path.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from linewatch.connectors.files import FileSource
from linewatch.pipeline.columnar_lane import (
    KeyColumns,
    Stamps,
    Tagged,
    lane_key,
    valid_name,
)
from linewatch.pipeline.decode import decode
from linewatch.pipeline.models import KIND_TYPES, LATEST, DeadLetter, Output, RawRecord
from linewatch.pipeline.replay_source import ReplaySource

if TYPE_CHECKING:
    from linewatch.pipeline.runner import Runner

__all__ = ["LANE_ROWS", "ColumnarReplay"]

#: Rows read and laned at a time (a row group is 50,000 rows as Linewatch writes them).
LANE_ROWS = 65_536
_LATEST_US = int((LATEST.timestamp()) * 1_000_000)
_STRING_COLUMNS = ("kind", "line", "station", "characteristic", "equipment", "name")


class ColumnarReplay:
    """Runs a Parquet :class:`FileSource` through the lane, a batch per call."""

    def __init__(self, source: FileSource, max_rows: int = LANE_ROWS) -> None:
        self.source = source
        self.max_rows = max_rows
        self.batches_laned = 0
        self.rows_laned = 0

    def serves(self, source: Any) -> bool:
        """Whether the runner's ``source`` is this file, unfiltered and unpaced."""
        if isinstance(source, ReplaySource):
            plain = source.start is None and source.stop is None and source.speed is None
            return plain and source.inner is self.source
        return source is self.source

    def run_batch(self, runner: Runner) -> int:
        """Read one batch and process it (lane and per-record); the rows read."""
        got = self.source.poll_table(self.max_rows)
        if got is None:
            return 0
        before, batch = got
        n = int(batch.num_rows)
        if not n:
            return 0
        columns = _Columns.of(batch)
        tagged: list[Tagged] = []
        laned = np.zeros(n, dtype=bool)
        if columns is not None:
            for key_rows in columns.candidate_keys():
                result = self._lane(runner, columns, key_rows)
                if result is not None:
                    tagged += result
                    laned[key_rows] = True
        tagged.sort(key=_row_phase)
        self._emit_in_order(runner, batch, before, laned, tagged)
        if isinstance(runner.source, ReplaySource) and columns is not None:
            good = columns.micros[columns.ts_ok]
            if good.size:
                latest = Stamps(good[-1:])[0]
                current = runner.source.event_time
                if current is None or latest > current:
                    runner.source.event_time = latest
        return n

    def _lane(self, runner: Runner, columns: _Columns, rows: np.ndarray) -> list[Tagged] | None:
        engine = runner.engine
        key_columns = columns.key_columns(rows)
        result = lane_key(engine, key_columns)
        if result is None:
            return None
        key = f"{key_columns.line}/{key_columns.station}"
        runner._handled += rows.size
        runner.summary.records_processed += rows.size
        # The key's state now includes these records: the base of a poison-pill rebuild.
        runner._since_base.pop(key, None)
        runner._base[key] = engine.snapshot_key(key)
        self.rows_laned += rows.size
        return result

    def _emit_in_order(
        self, runner: Runner, batch: Any, before: int, laned: np.ndarray, tagged: list[Tagged]
    ) -> None:
        """Hand everything to the sinks in the per-record order (by row)."""
        name = self.source.path.name
        record_sinks = runner._record_sinks
        others = np.flatnonzero(~laned)
        payloads = _payloads(batch, others) if others.size else []
        tag_rows = [row for row, _, _ in tagged]
        emit: Callable[[list[Output]], None] = runner._emit
        done = 0  # tagged outputs handed out

        def until(limit: int) -> None:
            nonlocal done
            upto = bisect.bisect_left(tag_rows, limit, lo=done)
            if upto > done:
                emit([out for _, _, out in tagged[done:upto]])
                done = upto

        if record_sinks:  # raw records are kept: every laned row hands its record first
            self._emit_with_records(runner, batch, before, laned, tagged, payloads, others)
            return
        for row, payload in zip(others.tolist(), payloads, strict=True):
            until(row)
            number = before + row + 1
            runner._handle(RawRecord(payload, f"{name}:row {number}", position=number))
        until(len(laned) + 1)

    def _emit_with_records(
        self,
        runner: Runner,
        batch: Any,
        before: int,
        laned: np.ndarray,
        tagged: list[Tagged],
        payloads: list[dict[str, Any]],
        others: np.ndarray,
    ) -> None:
        name = self.source.path.name
        lane_rows = np.flatnonzero(laned)
        lane_payloads = _payloads(batch, lane_rows) if lane_rows.size else []
        fallback = dict(zip(others.tolist(), payloads, strict=True))
        laned_at = dict(zip(lane_rows.tolist(), lane_payloads, strict=True))
        at = 0
        for row in range(len(laned)):
            number = before + row + 1
            origin = f"{name}:row {number}"
            if row in fallback:
                runner._handle(RawRecord(fallback[row], origin, position=number))
                continue
            record = decode(RawRecord(laned_at[row], origin, position=number))
            assert not isinstance(record, DeadLetter)  # the lane took only decodable rows
            for sink in runner._record_sinks:
                sink.add(record)
            outputs: list[Output] = []
            while at < len(tagged) and tagged[at][0] == row:
                outputs.append(tagged[at][2])
                at += 1
            runner._emit(outputs)


class _Columns:
    """A batch's columns as numpy codes, and which rows and keys the lane may take."""

    def __init__(self, batch: Any) -> None:
        import pyarrow.compute as pc

        n = int(batch.num_rows)
        self.n = n
        self.codes: dict[str, np.ndarray] = {}
        self.words: dict[str, list[str]] = {}
        for column in _STRING_COLUMNS:
            if column in batch.schema.names:
                encoded = pc.dictionary_encode(batch.column(column))
                self.codes[column] = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
                self.words[column] = encoded.dictionary.to_pylist()
            else:
                self.codes[column] = np.full(n, -1, dtype=np.int32)
                self.words[column] = []
        ts = batch.column("ts")
        self.micros = ts.cast("int64").fill_null(-1).to_numpy(zero_copy_only=False)
        self.ts_ok = ts.is_valid().to_numpy(zero_copy_only=False) & (self.micros >= 0)
        self.ts_ok &= self.micros < _LATEST_US
        value = batch.column("value")
        self.values = value.fill_null(np.nan).to_numpy(zero_copy_only=False)

    @classmethod
    def of(cls, batch: Any) -> _Columns | None:
        """The batch's columns, or ``None`` if its schema is not the one the lane reads."""
        import pyarrow as pa

        schema = batch.schema
        for column in _STRING_COLUMNS:
            if column in schema.names and schema.field(column).type != pa.string():
                return None
        for column in ("kind", "line", "station", "ts", "value"):
            if column not in schema.names:
                return None
        if schema.field("ts").type != pa.timestamp("us", tz="UTC"):
            return None
        if schema.field("value").type != pa.float64():
            return None
        return cls(batch)

    def _valid(self, column: str) -> np.ndarray:
        """Rows whose ``column`` holds a valid wire name."""
        words = self.words[column]
        ok = np.array([valid_name(w) for w in words] + [False], dtype=bool)
        valid: np.ndarray = ok[self.codes[column]]  # -1 (null) reads the trailing False
        return valid

    def candidate_keys(self) -> list[np.ndarray]:
        """Row positions (arrival order) of each key whose rows the lane may take."""
        kinds = self.words["kind"]
        kind = self.codes["kind"]
        measurement = kind == (kinds.index("measurement") if "measurement" in kinds else -2)
        parameter = kind == (kinds.index("parameter") if "parameter" in kinds else -2)
        known = np.zeros(len(kinds) + 1, dtype=bool)
        known[[i for i, k in enumerate(kinds) if k in KIND_TYPES]] = True
        good = self.ts_ok & np.isfinite(self.values)
        good &= (measurement & self._valid("characteristic")) | (
            parameter & self._valid("equipment") & self._valid("name")
        )
        # Rows that cannot decode (a dead letter whatever the state) belong to no key.
        dead = ~known[kind] | ((measurement | parameter) & ~good)
        keyed = self._valid("line") & self._valid("station") & ~dead
        stations = max(len(self.words["station"]), 1)
        key = self.codes["line"].astype(np.int64) * stations + self.codes["station"]
        positions = np.flatnonzero(keyed)
        order = positions[np.argsort(key[positions], kind="stable")]
        sorted_keys = key[order]
        cuts = np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1
        self._measurement = measurement
        found = []
        for rows in np.split(order, cuts):
            if rows.size and good[rows].all():
                found.append(rows)
        return found

    def key_columns(self, rows: np.ndarray) -> KeyColumns:
        first = int(rows[0])
        line = self.words["line"][self.codes["line"][first]]
        station = self.words["station"][self.codes["station"][first]]
        is_measurement = self._measurement[rows]
        chars = self.codes["characteristic"][rows].astype(np.int64)
        n_chars = len(self.words["characteristic"]) + 1
        n_names = len(self.words["name"]) + 1
        parameter_code = (
            n_chars
            + self.codes["equipment"][rows].astype(np.int64) * n_names
            + self.codes["name"][rows]
        )
        stream_code = np.where(is_measurement, chars, parameter_code)
        unique, inverse = np.unique(stream_code, return_inverse=True)
        names, kinds = [], []
        for code in unique.tolist():
            if code < n_chars:
                names.append(self.words["characteristic"][code])
                kinds.append("measurement")
            else:
                equipment, name = divmod(code - n_chars, n_names)
                names.append(f"{self.words['equipment'][equipment]}/{self.words['name'][name]}")
                kinds.append("parameter")
        return KeyColumns(
            line,
            station,
            self.micros[rows],
            inverse.astype(np.intp).reshape(-1),
            names,
            kinds,
            np.ascontiguousarray(self.values[rows]),
            rows,
        )


def _payloads(batch: Any, rows: np.ndarray) -> list[dict[str, Any]]:
    """The rows as :class:`FileSource` hands them out (their null cells left out)."""
    import pyarrow as pa

    taken = batch.take(pa.array(rows))
    return [{k: v for k, v in row.items() if v is not None} for row in taken.to_pylist()]


def _row_phase(item: Tagged) -> tuple[int, int]:
    return item[0], item[1]
