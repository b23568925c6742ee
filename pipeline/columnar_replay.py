"""Replay of a Parquet file through the columnar lane (``linewatch replay --input x.parquet``).

The file is read a row-group batch at a time as columns (pyarrow); its rows are grouped by
``line/station`` with numpy (a stable argsort keeps each key's arrival order), and a key
whose every row in the batch is a measurement or parameter that decodes (valid names,
zone-aware time in 1970-2199, finite value) goes to :func:`~linewatch.pipeline.columnar_lane.lane_key`.
Everything else takes the runner's per-record path, row by row, in file order: the
inspections and attributes, the rows that would be dead letters, and every row of a key
the lane cannot prove safe (a late, future or implausible record, an unconfigured stream,
a station with models, an ``xbar`` chart...).

**Order.** A key the lane may take shares no engine state with other keys (no models
on its station, whose joins cross keys), so its records may run apart; its rows the lane
cannot prove (halved down to :data:`LEAST_LANED` rows around them) go record by record
at once, and every other row goes record by record afterwards, in file order. The outputs
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

from typing import TYPE_CHECKING, Any

import numpy as np

from linewatch.connectors.files import FileSource
from linewatch.pipeline.capture import OutputCapture
from linewatch.pipeline.columnar_lane import (
    KeyColumns,
    Stamps,
    Tagged,
    lane_key,
    lane_takes,
    valid_name,
)
from linewatch.pipeline.decode import decode
from linewatch.pipeline.models import KIND_TYPES, LATEST, DeadLetter, RawRecord
from linewatch.pipeline.replay_source import ReplaySource

if TYPE_CHECKING:
    from linewatch.pipeline.runner import Runner

__all__ = ["LANE_ROWS", "LEAST_LANED", "ColumnarReplay"]

#: Fewest rows of a key the lane tries on its own; fewer go record by record.
LEAST_LANED = 512
#: Rows read and laned at a time: whole row groups (50,000 rows as Linewatch writes them)
#: are joined up to this; longer runs per stream halve the charts' per-call costs.
LANE_ROWS = 262_144
_LATEST_US = int((LATEST.timestamp()) * 1_000_000)
_STRING_COLUMNS = ("kind", "line", "station", "characteristic", "equipment", "name")


_TEXT_TYPES: list[Any] = []  # string, and string read dictionary-encoded (pyarrow, lazily)


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
        got = self.source.poll_table(self.max_rows, _STRING_COLUMNS)
        if got is None:
            return 0
        before, batch = got
        n = int(batch.num_rows)
        if not n:
            return 0
        columns = _Columns.of(batch)
        done = np.zeros(n, dtype=bool)
        with OutputCapture(runner) as capture:
            if columns is not None:
                for key_rows in columns.candidate_keys():
                    if lane_takes(runner.engine, columns.key_columns(key_rows)):
                        self._run_key(runner, capture, columns, batch, before, key_rows, done)
            # The rest in file order: models join records across keys (an inspection
            # to the parameters of another station), so their order is kept whole.
            self._per_record(runner, capture, batch, before, np.flatnonzero(~done))
        capture.replay()
        if isinstance(runner.source, ReplaySource) and columns is not None:
            good = columns.micros[columns.ts_ok]
            if good.size:
                latest = Stamps(good[-1:])[0]
                current = runner.source.event_time
                if current is None or latest > current:
                    runner.source.event_time = latest
        return n

    def _run_key(
        self,
        runner: Runner,
        capture: OutputCapture,
        columns: _Columns,
        batch: Any,
        before: int,
        rows: np.ndarray,
        done: np.ndarray,
    ) -> None:
        """One key's rows: laned whole, or in halves around what the lane cannot take
        (down to :data:`LEAST_LANED` rows, which go record by record)."""
        result = self._lane(runner, columns, rows)
        if result is not None:
            capture.laned(result)
            if capture.sinks:  # the raw records are kept too: each laned row's record
                for row, payload in zip(rows.tolist(), _payloads(batch, rows), strict=True):
                    number = before + row + 1
                    record = decode(RawRecord(payload, self._origin(number), position=number))
                    assert not isinstance(record, DeadLetter)  # the lane takes decodable rows
                    capture.record_at(row, record)
        elif rows.size <= LEAST_LANED:
            self._per_record(runner, capture, batch, before, rows)
        else:
            middle = rows.size // 2
            self._run_key(runner, capture, columns, batch, before, rows[:middle], done)
            self._run_key(runner, capture, columns, batch, before, rows[middle:], done)
            return
        done[rows] = True

    def _per_record(
        self, runner: Runner, capture: OutputCapture, batch: Any, before: int, rows: np.ndarray
    ) -> None:
        if not rows.size:
            return
        for row, payload in zip(rows.tolist(), _payloads(batch, rows), strict=True):
            capture.row = row
            number = before + row + 1
            runner._handle(RawRecord(payload, self._origin(number), position=number))

    def _origin(self, number: int) -> str:
        return f"{self.source.path.name}:row {number}"

    def _lane(self, runner: Runner, columns: _Columns, rows: np.ndarray) -> list[Tagged] | None:
        engine = runner.engine
        key_columns = columns.key_columns(rows)
        key = f"{key_columns.line}/{key_columns.station}"
        # The base of a rebuild is the key's state as it is, when no record came since.
        now = runner._base.get(key) if not runner._since_base.get(key) else None
        result = lane_key(engine, key_columns, now)
        if result is None:
            return None
        runner._handled += rows.size
        runner.summary.records_processed += rows.size
        # The key's state now includes these records: the base of a poison-pill rebuild.
        runner._since_base.pop(key, None)
        runner._base[key] = engine.snapshot_key(key)
        self.rows_laned += rows.size
        return result


class _Columns:
    """A batch's columns as numpy codes, and which rows and keys the lane may take."""

    def __init__(self, batch: Any) -> None:
        import pyarrow as pa

        n = int(batch.num_rows)
        self.n = n
        self.codes: dict[str, np.ndarray] = {}
        self.words: dict[str, list[str]] = {}
        for column in _STRING_COLUMNS:
            if column in batch.schema.names:
                self.codes[column], self.words[column] = _text_codes(pa, batch.column(column))
            else:
                self.codes[column] = np.full(n, -1, dtype=np.int64)
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

        if not _TEXT_TYPES:
            _TEXT_TYPES.extend([pa.string(), pa.dictionary(pa.int32(), pa.string())])
        schema = batch.schema
        for column in _STRING_COLUMNS:
            if column in schema.names and schema.field(column).type not in _TEXT_TYPES:
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


def _text_codes(pa: Any, column: Any) -> tuple[np.ndarray, list[str]]:
    """Codes of a text column (-1 for null) into its distinct words, over every chunk
    (a table's chunks each have their own dictionary)."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    index: dict[str, int] = {}
    parts = []
    for chunk in chunks:
        if chunk.null_count == len(chunk):  # another kind's field: nothing to encode
            parts.append(np.full(len(chunk), -1, dtype=np.int64))
            continue
        if not pa.types.is_dictionary(chunk.type):
            chunk = chunk.dictionary_encode()
        words = chunk.dictionary.to_pylist()
        into = np.array([index.setdefault(w, len(index)) for w in words] + [-1], dtype=np.int64)
        indices = chunk.indices
        if indices.null_count:
            indices = indices.fill_null(-1)
        parts.append(into[indices.to_numpy(zero_copy_only=False)])
    codes = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return codes, list(index)


def _payloads(batch: Any, rows: np.ndarray) -> list[dict[str, Any]]:
    """The rows as :class:`FileSource` hands them out (their null cells left out)."""
    import pyarrow as pa

    taken = batch.take(pa.array(rows))
    return [{k: v for k, v in row.items() if v is not None} for row in taken.to_pylist()]
