"""File sources and sinks: wire records in JSONL, CSV or Parquet; outputs as JSONL.

Text files may be gzip-compressed (``.jsonl.gz``, ``.csv.gz``). Every record keeps its
origin (``line.jsonl:42``, ``line.csv:17``, ``line.parquet:row 9``) so that an error or a
dead letter names the file line it came from.

CSV columns are the wire fields (``kind,ts,line,station,...``); an empty cell means the
field is absent, and ``defect_codes`` holds codes separated by ``|``.

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "a.jsonl").write_text('{"kind":"x"}\\n\\n{"kind":"y"}\\n')
>>> source = FileSource(folder / "a.jsonl")
>>> [(r.origin, r.payload) for r in source.poll(0.0)]
[('a.jsonl:1', b'{"kind":"x"}'), ('a.jsonl:3', b'{"kind":"y"}')]
>>> source.exhausted
True
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Literal

import msgspec

from linewatch.pipeline.models import Output, RawRecord, WireRecord

__all__ = ["FileSource", "JsonlSink", "detect_format", "write_records"]

FileFormat = Literal["jsonl", "csv", "parquet"]


class MissingDependencyError(ImportError):
    """An optional dependency is not installed; the message says how to install it."""


def detect_format(path: Path) -> FileFormat:
    """The format a file's name implies.

    >>> detect_format(Path("line.jsonl.gz")), detect_format(Path("x.CSV")), detect_format(Path("p.parquet"))
    ('jsonl', 'csv', 'parquet')
    """
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    last = suffixes[-1] if suffixes else ""
    if last in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if last == ".csv":
        return "csv"
    if last in (".parquet", ".pq"):
        return "parquet"
    raise ValueError(f"{path}: cannot tell the format from the name; use .jsonl, .csv or .parquet")


def _require_pyarrow() -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise MissingDependencyError(
            "Parquet files need pyarrow: pip install 'linewatch[parquet]'"
        ) from exc
    return pq


class _CountingReader(io.RawIOBase):
    """Counts bytes read from the file on disk, for progress through gzip."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self.raw.readinto(buffer)  # type: ignore[attr-defined]
        self.bytes_read += count or 0
        return count or 0

    def close(self) -> None:
        self.raw.close()
        super().close()


class FileSource:
    """Reads wire records from a file in batches; ``start_after`` skips records on resume."""

    def __init__(
        self,
        path: str | Path,
        format: FileFormat | Literal["auto"] = "auto",
        batch_size: int = 1000,
        start_after: int = 0,
    ) -> None:
        self.path = Path(path)
        self.format = format
        self.batch_size = batch_size
        self.start_after = start_after
        self._format: FileFormat = detect_format(self.path) if format == "auto" else format
        self._total_bytes = self.path.stat().st_size
        self._rows_read = 0
        self._total_rows = 0
        self._counter = _CountingReader(self.path.open("rb"))
        self._records = self._iterate()
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

    def commit(self) -> None:
        self._committed = self._consumed

    @property
    def exhausted(self) -> bool:
        return self._exhausted

    def position(self) -> dict[str, Any]:
        return {"path": str(self.path), "records": self._consumed}

    def progress(self) -> tuple[int, int]:
        """How far the source is: bytes of the file read and its size (rows for Parquet)."""
        if self._format == "parquet":
            return self._rows_read, self._total_rows
        return self._counter.bytes_read, self._total_bytes

    def close(self) -> None:
        self._counter.close()

    # -- readers -----------------------------------------------------------------------

    def _binary(self) -> IO[bytes]:
        buffered = io.BufferedReader(self._counter, buffer_size=1 << 16)
        if self.path.suffix.lower() == ".gz":
            return gzip.GzipFile(fileobj=buffered, mode="rb")  # type: ignore[return-value]
        return buffered

    def _iterate(self) -> Iterator[RawRecord]:
        if self._format == "jsonl":
            return self._jsonl()
        if self._format == "csv":
            return self._csv()
        return self._parquet()

    def _jsonl(self) -> Iterator[RawRecord]:
        name = self.path.name
        for number, line in enumerate(self._binary(), start=1):
            payload = line.rstrip(b"\r\n")
            if payload.strip():
                yield RawRecord(payload=payload, origin=f"{name}:{number}", position=number)

    def _csv(self) -> Iterator[RawRecord]:
        name = self.path.name
        text = io.TextIOWrapper(self._binary(), encoding="utf-8", errors="replace", newline="")
        reader = csv.DictReader(text)
        for row in reader:
            cells: dict[str, Any] = {}
            for column, cell in row.items():
                if column is None:  # more cells than the header has columns
                    cells["__extra_cells__"] = cell
                elif cell not in (None, ""):
                    cells[column] = cell.split("|") if column == "defect_codes" else cell
            if cells:
                yield RawRecord(
                    payload=cells, origin=f"{name}:{reader.line_num}", position=reader.line_num
                )

    def _parquet(self) -> Iterator[RawRecord]:
        pq = _require_pyarrow()
        name = self.path.name
        parquet = pq.ParquetFile(self.path)
        self._total_rows = parquet.metadata.num_rows
        for batch in parquet.iter_batches(batch_size=self.batch_size):
            for row in batch.to_pylist():
                self._rows_read += 1
                cells = {k: v for k, v in row.items() if v is not None}
                yield RawRecord(
                    payload=cells, origin=f"{name}:row {self._rows_read}", position=self._rows_read
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


def _write_parquet(records: Iterable[WireRecord], target: Path) -> int:
    pq = _require_pyarrow()
    import pyarrow as pa

    rows = [msgspec.to_builtins(record) for record in records]
    table = pa.Table.from_pylist(rows)
    pq.write_table(table, target)
    return len(rows)
