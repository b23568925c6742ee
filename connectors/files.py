"""File sources and sinks: wire records in JSONL, CSV or Parquet; outputs as JSONL.

Text files may be gzip-compressed (``.jsonl.gz``, ``.csv.gz``). Every record keeps its
origin (``line.jsonl:42``, ``line.csv:17``, ``line.parquet:row 9``) so that an error or a
dead letter names the file line it came from (numbered from 1, as editors count).

CSV columns are the wire fields (``kind,ts,line,station,...``); an empty cell means the
field is absent, and ``defect_codes`` holds codes separated by ``|``. A CSV record is one
line: a row that is not UTF-8, whose quoting is broken, or whose cell count differs from
the header's becomes a dead letter that keeps the line's bytes, and the next line is read
on its own. A row's payload carries its bytes under ``__original__`` (and the reason it is
unusable under ``__error__``), which :mod:`linewatch.pipeline.decode` understands.

Parquet is written with :func:`parquet_schema`, one column per wire field for every kind.

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "a.jsonl").write_text('{"kind":"x"}\\n\\n{"kind":"y"}\\n')
>>> source = FileSource(folder / "a.jsonl")
>>> [(r.origin, r.payload) for r in source.poll(0.0)]
[('a.jsonl:1', b'{"kind":"x"}'), ('a.jsonl:3', b'{"kind":"y"}')]
>>> source.exhausted, source.damage
(True, None)
>>> _ = (folder / "b.csv").write_bytes(b'kind,line\\nx,"L3\\ny,L\\xff3\\n')
>>> [r.payload.get("__error__") for r in FileSource(folder / "b.csv").poll(0.0)]
['a quote opened at character 3 is never closed (Linewatch CSV has one record per line) - in column `line` (cell 2)', 'not UTF-8 text (byte 3 of the line) - in column `line` (cell 2)']
"""

from __future__ import annotations

import csv
import gzip
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import msgspec

from linewatch.connectors.lines import (
    GZIP_MAGIC,
    CsvLineError,
    InputDamaged,
    physical_lines,
    split_csv_line,
)
from linewatch.pipeline.models import Output, RawRecord, WireRecord

__all__ = [
    "SUPPORTED_FORMATS",
    "FileSource",
    "InputDamaged",
    "JsonlSink",
    "UnsupportedFormat",
    "detect_format",
    "parquet_schema",
    "write_records",
]

FileFormat = Literal["jsonl", "csv", "parquet"]
SUPPORTED_FORMATS = ".jsonl, .ndjson, .json, .csv (each optionally .gz), .parquet, .pq"
_SUFFIXES: dict[str, FileFormat] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
#: Keys a CSV row's payload reserves: the line's bytes as read, and why it is unusable.
ORIGINAL_KEY, ERROR_KEY = "__original__", "__error__"


class MissingDependencyError(ImportError):
    """An optional dependency is not installed; the message says how to install it."""


class UnsupportedFormat(ValueError):
    """A file whose name names no format Linewatch reads; the message lists the ones it does."""


def detect_format(path: Path) -> FileFormat:
    """The format a file's name implies.

    >>> detect_format(Path("line.jsonl.gz")), detect_format(Path("x.CSV")), detect_format(Path("p.parquet"))
    ('jsonl', 'csv', 'parquet')
    >>> try:
    ...     detect_format(Path("sheet.xlsx"))
    ... except UnsupportedFormat as error:
    ...     print(error)
    sheet.xlsx: unsupported format '.xlsx' (Excel workbooks are not read: save the sheet as CSV); supported: .jsonl, .ndjson, .json, .csv (each optionally .gz), .parquet, .pq
    """
    suffixes = [s.lower() for s in path.suffixes]
    gzipped = bool(suffixes) and suffixes[-1] == ".gz"
    last = (suffixes[-2] if len(suffixes) > 1 else "") if gzipped else (suffixes or [""])[-1]
    found = _SUFFIXES.get(last)
    if found == "parquet" and gzipped:
        hint = " (Parquet compresses inside the file: give the .parquet itself)"
    elif found is not None:
        return found
    elif last in (".xlsx", ".xls", ".xlsm", ".ods"):
        hint = " (Excel workbooks are not read: save the sheet as CSV)"
    else:
        hint = ""
    shown = "".join(path.suffixes) or "no suffix"
    raise UnsupportedFormat(
        f"{path}: unsupported format {shown!r}{hint}; supported: {SUPPORTED_FORMATS}"
    )


def _require_pyarrow() -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise MissingDependencyError(
            "Parquet files need pyarrow: pip install 'linewatch[parquet]'"
        ) from exc
    return pq


class FileSource:
    """Reads wire records from a file in batches; ``resume`` skips what was read before.

    ``resume`` is what :meth:`snapshot` gave at the last checkpoint; ``start_after``
    (a count of records to skip) is the same thing spelled by hand.

    Every non-blank line of a JSONL or CSV file (after the CSV header) is one record, and
    every Parquet row. A damaged file ends the source early: every record before the
    damage is handed out, then :attr:`damage` holds the :class:`InputDamaged` and the
    source is exhausted. Gzip is recognised by its name (``.gz``) or its first bytes.
    """

    def __init__(
        self,
        path: str | Path,
        format: FileFormat | Literal["auto"] = "auto",
        batch_size: int = 1000,
        start_after: int = 0,
        resume: Mapping[str, Any] | None = None,
    ) -> None:
        if resume is not None:  # what snapshot() gave: the records already handed out
            start_after = _records(resume)
        self.path = Path(path)
        self.format = format
        self.batch_size = batch_size
        self.start_after = start_after
        self._format: FileFormat = detect_format(self.path) if format == "auto" else format
        self._total_bytes = self.path.stat().st_size
        self._bytes_read = 0
        self._rows_read = 0
        self._total_rows = 0
        self._file = self.path.open("rb")
        #: Why the file could not be read to its end, once that is known.
        self.damage: InputDamaged | None = None
        self._records = self._iterate()
        self._tables: Iterator[Any] | None = None  # poll_table's reader
        self._consumed = 0
        self._committed = start_after
        self._exhausted = False
        for _ in range(start_after):
            if next(self._records, None) is None:
                self._exhausted = True
                break
        self._consumed = start_after

    # -- Source protocol ---------------------------------------------------------------

    def poll(self, timeout: float) -> list[RawRecord]:
        batch: list[RawRecord] = []
        if self._exhausted:
            return batch
        for record in self._records:
            batch.append(record)
            if len(batch) >= self.batch_size:
                break
        else:
            self._exhausted = True
        self._consumed += len(batch)
        return batch

    def poll_table(
        self, max_rows: int = 65_536, dictionary: Sequence[str] = ()
    ) -> tuple[int, Any] | None:
        """Parquet only, instead of :meth:`poll` (a columnar replay): the next rows of the
        file as one ``pyarrow.RecordBatch`` or ``Table`` of about ``max_rows`` (whole row
        groups are joined until there are that many), with the number of rows handed out before it;
        ``None`` once exhausted. The ``dictionary`` columns are read dictionary-encoded."""
        if self._format != "parquet":
            raise UnsupportedFormat(f"{self.path.name}: poll_table reads Parquet only")
        if self._tables is None:
            self._tables = self._parquet_tables(max_rows, list(dictionary))
        if self._exhausted:
            return None
        batch = next(self._tables, None)
        if batch is None:
            self._exhausted = True
            return None
        before = self._consumed
        self._consumed += batch.num_rows
        self._rows_read += batch.num_rows
        return before, batch

    @property
    def file_format(self) -> FileFormat:
        return self._format

    def commit(self) -> None:
        self._committed = self._consumed

    @property
    def exhausted(self) -> bool:
        return self._exhausted

    def snapshot(self) -> dict[str, Any]:
        return {"path": str(self.path), "records": self._consumed}

    def progress(self) -> tuple[int, int]:
        """How far the source is: bytes of the file read and its size (rows for Parquet)."""
        if self._format == "parquet":
            return self._rows_read, self._total_rows
        return self._bytes_read, self._total_bytes

    def close(self) -> None:
        self._file.close()

    # -- readers -----------------------------------------------------------------------

    def _read(self, size: int) -> bytes:
        data = self._file.read(size)
        self._bytes_read += len(data)
        return data

    def _lines(self) -> Iterator[tuple[int, bytes]]:
        """(line number, bytes) of every non-blank line; records damage and stops."""
        head = self._file.read(2)
        self._file.seek(0)
        gzipped = self.path.suffix.lower() == ".gz" or head == GZIP_MAGIC
        number = 0
        try:
            for number, line in enumerate(physical_lines(self._read, gzipped), start=1):
                if line.strip():
                    yield number, line
        except InputDamaged as damage:
            if damage.partial:
                damage = InputDamaged(
                    damage.byte_offset,
                    f"{damage.reason}; the {len(damage.partial)} byte(s) of the incomplete "
                    f"line {number + 1} before it are not a whole record and were not read",
                )
            self.damage = damage
        except OSError as error:
            self.damage = InputDamaged(self._bytes_read, f"cannot read the file ({error})")

    def _iterate(self) -> Iterator[RawRecord]:
        if self._format == "jsonl":
            return self._jsonl()
        if self._format == "csv":
            return self._csv()
        return self._parquet()

    def _jsonl(self) -> Iterator[RawRecord]:
        name = self.path.name
        for number, line in self._lines():
            yield RawRecord(payload=line, origin=f"{name}:{number}", position=number)

    def _csv(self) -> Iterator[RawRecord]:
        name = self.path.name
        lines = self._lines()
        header: list[str] = []
        for number, line in lines:
            try:
                header = _csv_header(line)
            except ValueError as exc:
                self.damage = InputDamaged(0, f"the CSV header on line {number} {exc}")
                return
            break
        width = len(header)
        for number, line in lines:
            origin = f"{name}:{number}"
            cells: dict[str, Any] = {ORIGINAL_KEY: line}
            try:
                values = split_csv_line(line.decode("utf-8"))
            except UnicodeDecodeError as bad:
                column = _column_at(line, bad.start, header)
                cells[ERROR_KEY] = f"not UTF-8 text (byte {bad.start} of the line) - in {column}"
                yield RawRecord(payload=cells, origin=origin, position=number)
                continue
            except CsvLineError as bad:
                cells[ERROR_KEY] = f"{bad} - in {_column(bad.field, header)}"
                yield RawRecord(payload=cells, origin=origin, position=number)
                continue
            if len(values) != width:
                cells[ERROR_KEY] = _width_error(len(values), header)
                yield RawRecord(payload=cells, origin=origin, position=number)
                continue
            for column, cell in zip(header, values, strict=True):
                if cell:
                    cells[column] = cell.split("|") if column == "defect_codes" else cell
            yield RawRecord(payload=cells, origin=origin, position=number)

    def _parquet(self) -> Iterator[RawRecord]:
        pq = _require_pyarrow()
        import pyarrow as pa

        name = self.path.name
        group = 0
        offset = 0
        try:
            parquet = pq.ParquetFile(self._file)
            metadata = parquet.metadata
            self._total_rows = metadata.num_rows
            for group in range(metadata.num_row_groups):
                offset = _row_group_offset(metadata.row_group(group))
                for batch in parquet.iter_batches(batch_size=self.batch_size, row_groups=[group]):
                    # Columns null in the whole batch (another kind's fields) are dropped
                    # before the rows are built: fewer cells to make and to filter.
                    rows = batch.num_rows
                    present = [i for i, c in enumerate(batch.columns) if c.null_count < rows]
                    if len(present) < batch.num_columns:
                        batch = batch.select(present)
                    sparse = any(c.null_count for c in batch.columns)
                    for row in batch.to_pylist():
                        self._rows_read += 1
                        cells = {k: v for k, v in row.items() if v is not None} if sparse else row
                        yield RawRecord(
                            payload=cells,
                            origin=f"{name}:row {self._rows_read}",
                            position=self._rows_read,
                        )
        except (pa.ArrowException, OSError, ValueError) as error:
            where = f"row group {group}" if self._total_rows else "the file"
            self.damage = InputDamaged(
                offset,
                f"{where} cannot be read as Parquet ({type(error).__name__}: {error})",
            )

    def _parquet_tables(self, max_rows: int, dictionary: list[str]) -> Iterator[Any]:
        pq = _require_pyarrow()
        import pyarrow as pa

        group = offset = 0
        pending: list[Any] = []
        rows = 0
        try:
            parquet = pq.ParquetFile(self._file, read_dictionary=dictionary or None)
            metadata = parquet.metadata
            self._total_rows = metadata.num_rows
            for group in range(metadata.num_row_groups):
                offset = _row_group_offset(metadata.row_group(group))
                for batch in parquet.iter_batches(batch_size=max_rows, row_groups=[group]):
                    pending.append(batch)
                    rows += batch.num_rows
                    if rows >= max_rows:
                        yield _joined(pa, pending)
                        pending, rows = [], 0
        except (pa.ArrowException, OSError, ValueError) as error:
            where = f"row group {group}" if self._total_rows else "the file"
            self.damage = InputDamaged(
                offset,
                f"{where} cannot be read as Parquet ({type(error).__name__}: {error})",
            )
        if pending:
            yield _joined(pa, pending)


def _joined(pa: Any, batches: list[Any]) -> Any:
    """``batches`` as one table, not copied (each chunk keeps its own dictionaries)."""
    return batches[0] if len(batches) == 1 else pa.Table.from_batches(batches)


def _row_group_offset(group: Any) -> int:
    columns = [group.column(i) for i in range(group.num_columns)]
    starts = [
        c.dictionary_page_offset if c.has_dictionary_page else c.data_page_offset for c in columns
    ]
    return int(min(starts)) if starts else 0


def _csv_header(line: bytes) -> list[str]:
    try:
        text = line.decode("utf-8").removeprefix("\ufeff")  # a BOM from spreadsheet tools
    except UnicodeDecodeError as bad:
        raise ValueError(f"is not UTF-8 text (byte {bad.start + 1})") from None
    try:
        header = [cell.strip() for cell in split_csv_line(text)]
    except CsvLineError as bad:
        raise ValueError(f"cannot be split: {bad}") from None
    seen: set[str] = set()
    for column in header:
        if not column:
            raise ValueError("has an empty column name")
        if column in seen:
            raise ValueError(f"names column {column!r} twice")
        seen.add(column)
    return header


def _column(index: int, header: list[str]) -> str:
    if index < len(header):
        return f"column `{header[index]}` (cell {index + 1})"
    return f"cell {index + 1}, beyond the last column `{header[-1]}`"


def _column_at(line: bytes, byte: int, header: list[str]) -> str:
    # Commas are ASCII, so counting them in the bytes before the bad byte finds its cell
    # (quoted commas aside, which the wire fields do not hold).
    return _column(line.count(b",", 0, byte), header)


def _width_error(cells: int, header: list[str]) -> str:
    if cells > len(header):
        return (
            f"the row has {cells} cells, the header {len(header)} columns - "
            f"{_column(len(header), header)} is extra"
        )
    return (
        f"the row has {cells} cells, the header {len(header)} columns - "
        f"column `{header[cells]}` and after are missing"
    )


class JsonlSink:
    """Appends outputs to a JSON-lines file; ``flush`` makes them durable (fsync)."""

    def __init__(self, path: str | Path, append: bool = True) -> None:
        self.path = Path(path)
        self.append = append
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("ab" if append else "wb")
        self._encoder = msgspec.json.Encoder()
        self._buffer = bytearray()
        self.written = 0

    def add(self, item: Output | WireRecord) -> None:
        self._encoder.encode_into(item, self._buffer, -1)
        self._buffer += b"\n"
        self.written += 1

    def flush(self) -> None:
        if self._buffer:
            self._file.write(self._buffer)
            self._buffer.clear()
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        """Flush and close; a second call does nothing."""
        if self._file.closed:
            return
        self.flush()
        self._file.close()

    def durable_length(self) -> int:
        """Bytes in the file (call after :meth:`flush`); a checkpoint records it."""
        return os.fstat(self._file.fileno()).st_size

    def truncate(self, length: int) -> None:
        """Drop what follows ``length`` bytes: lines a resume is about to write again."""
        self._buffer.clear()
        self._file.flush()
        self._file.truncate(length)
        os.fsync(self._file.fileno())


_CSV_COLUMNS = (
    "kind",
    "ts",
    "line",
    "station",
    "equipment",
    "name",
    "characteristic",
    "value",
    "subgroup",
    "part_id",
    "product",
    "result",
    "defects",
    "defect_codes",
    "rework",
    "inspected",
    "nonconforming",
)


def write_records(records: Iterable[WireRecord], path: str | Path) -> int:
    """Write wire records to ``path`` in the format its name implies; returns the count."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    file_format = detect_format(target)
    if file_format == "parquet":
        return _write_parquet(records, target)
    opener: Any = gzip.open if target.suffix.lower() == ".gz" else open
    count = 0
    if file_format == "jsonl":
        encoder = msgspec.json.Encoder()
        with opener(target, "wb") as out:
            for record in records:
                out.write(encoder.encode(record) + b"\n")
                count += 1
        return count
    with opener(target, "wt", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=_CSV_COLUMNS)
        writer.writeheader()
        for record in records:
            writer.writerow(_csv_row(record))
            count += 1
    return count


def _csv_row(record: WireRecord) -> dict[str, Any]:
    row: dict[str, Any] = msgspec.to_builtins(record)
    if "defect_codes" in row:
        row["defect_codes"] = "|".join(row["defect_codes"])
    if "rework" in row:
        row["rework"] = "true" if row["rework"] else "false"
    return row


def parquet_schema() -> Any:
    """The one Parquet schema of every wire record kind: a column per wire field.

    A field a kind does not have is null in its rows (and absent when read back). Event
    times are UTC microseconds, as precise as the wire's.
    """
    import pyarrow as pa

    text = pa.string()
    return pa.schema(
        [
            ("kind", text),
            ("ts", pa.timestamp("us", tz="UTC")),
            ("line", text),
            ("station", text),
            ("equipment", text),
            ("name", text),
            ("characteristic", text),
            ("value", pa.float64()),
            ("subgroup", text),
            ("part_id", text),
            ("product", text),
            ("result", text),
            ("defects", pa.int64()),
            ("defect_codes", pa.list_(text)),
            ("rework", pa.bool_()),
            ("inspected", pa.int64()),
            ("nonconforming", pa.int64()),
        ]
    )


#: Rows a Parquet row group is written with (and held in memory at once).
PARQUET_ROWS_PER_GROUP = 50_000


def _write_parquet(records: Iterable[WireRecord], target: Path) -> int:
    pq = _require_pyarrow()
    import pyarrow as pa

    schema = parquet_schema()
    count = 0
    rows: list[dict[str, Any]] = []
    with pq.ParquetWriter(target, schema) as writer:
        for record in records:
            rows.append(msgspec.to_builtins(record, builtin_types=(datetime,)))
            count += 1
            if len(rows) >= PARQUET_ROWS_PER_GROUP:
                writer.write_table(pa.Table.from_pylist(rows, schema=schema))
                rows.clear()
        if rows or not count:
            writer.write_table(pa.Table.from_pylist(rows, schema=schema))
    return count


def _records(resume: Mapping[str, Any]) -> int:
    """The ``records`` count of a file or memory source's snapshot.

    >>> _records({"records": 3})
    3
    >>> _records({"records": -1})
    Traceback (most recent call last):
    ...
    ValueError: source.records must be a whole number >= 0, got -1
    """
    records = resume.get("records", 0)
    if not isinstance(records, int) or isinstance(records, bool) or records < 0:
        raise ValueError(f"source.records must be a whole number >= 0, got {records!r}")
    return records
