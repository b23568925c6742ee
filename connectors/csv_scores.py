"""Per-sample chart statistics and model scores as one CSV file (``replay --scores``).

One row per chart point (``kind`` ``chart_point``): the plotted statistic with its limits,
its Western Electric zone, the rules it violates (``|``-joined) and its limits version.
Model scores (``kind`` ``model_score``) fill the ``model_score`` columns of the storage
schema; any other output routed here is written by the same columns it has. Numbers are
written exactly (Python's shortest round-trip text), an absent value is an empty cell and
timestamps are ISO 8601 in UTC, so pandas (``pd.read_csv(path, parse_dates=["ts"])``)
and Minitab read it as it is.

>>> import tempfile
>>> from datetime import datetime, timezone
>>> from pathlib import Path
>>> from linewatch.pipeline.models import ChartPoint
>>> path = Path(tempfile.mkdtemp()) / "scores.csv"
>>> sink = CsvScoresSink(path)
>>> sink.add(ChartPoint(ts=datetime(2026, 11, 23, 8, tzinfo=timezone.utc), line="L3",
...     station="weld-2", characteristic="nugget_dia_mm", chart="xbar", value=5.4,
...     cl=5.41, ucl=5.6, lcl=5.22, zone="C", limits_version=1, violations=["nelson2"]))
>>> sink.close()
>>> print(path.read_text().splitlines()[1])
chart_point,2026-11-23T08:00:00+00:00,L3,weld-2,nugget_dia_mm,xbar,5.4,5.41,5.6,5.22,C,nelson2,1,,,,,
"""

from __future__ import annotations

import csv
import io
import os
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import msgspec

from linewatch.pipeline.models import STORAGE_SCHEMA, Output, WireRecord

__all__ = ["CHART_COLUMNS", "COLUMNS", "CsvScoresSink"]

#: The columns of a chart point's row, in order (after ``kind``).
CHART_COLUMNS = (
    "ts",
    "line",
    "station",
    "characteristic",
    "chart",
    "value",
    "cl",
    "ucl",
    "lcl",
    "zone",
    "violations",
    "limits_version",
)
_MODEL_TAGS, _MODEL_FIELDS = STORAGE_SCHEMA["model_score"]
#: Every column of the file: kind, the chart columns, then the model-score columns.
COLUMNS = (
    "kind",
    *CHART_COLUMNS,
    *(c for c in (*_MODEL_TAGS, *_MODEL_FIELDS) if c not in CHART_COLUMNS),
)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, list | tuple):
        return "|".join(str(v) for v in value)
    return str(value)


@lru_cache(maxsize=64)
def _kind(item_type: type[Any]) -> str:
    """The item's ``type`` tag (``chart_point``, ``model_score``), else its class name."""
    tag = getattr(msgspec.inspect.type_info(item_type), "tag", None)
    return str(tag) if tag is not None else item_type.__name__


class CsvScoresSink:
    """Writes chart points and model scores as CSV rows; ``flush`` makes them durable.

    ``append`` (a resumed ``run``) keeps the rows already there and writes the header only
    into an empty file; :meth:`durable_length` and :meth:`truncate` let a resume cut the
    file back to its checkpoint, as for the JSON-lines sinks.
    """

    def __init__(self, path: str | Path, append: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("ab" if append else "wb")
        self._text = io.StringIO()
        self._writer = csv.writer(self._text, lineterminator="\n")
        self.written = 0
        if self.durable_length() == 0:
            self._writer.writerow(COLUMNS)

    def add(self, item: Output | WireRecord) -> None:
        fields = msgspec.structs.asdict(item)
        self._writer.writerow(
            [_kind(type(item)), *(_cell(fields.get(column)) for column in COLUMNS[1:])]
        )
        self.written += 1

    def flush(self) -> None:
        text = self._text.getvalue()
        if text:
            self._file.write(text.encode("utf-8"))
            self._text.seek(0)
            self._text.truncate()
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        if not self._file.closed:
            self.flush()
            self._file.close()

    def durable_length(self) -> int:
        """Bytes in the file (call after :meth:`flush`); a checkpoint records it."""
        return os.fstat(self._file.fileno()).st_size

    @classmethod
    def _contract_case(cls, tmp_path: Path) -> Any:
        """The generic sink checks' case (``connectors.checks``): rows read back from the file."""
        from linewatch.connectors.checks import SinkCase
        from linewatch.pipeline.models import ChartPoint

        paths = (tmp_path / f"scores-{n}.csv" for n in range(1_000_000))
        points = [
            ChartPoint(ts=datetime(2026, 3, 2, 6, second, tzinfo=UTC), line="L1", station="s1",
                       characteristic="c", chart="individuals", value=float(second), cl=0.0,
                       ucl=3.0, lcl=-3.0, zone="C", limits_version=1)
            for second in range(3)
        ]  # fmt: skip

        def rows(sink: CsvScoresSink) -> int:
            return len(sink.path.read_bytes().splitlines()) - 1  # the header

        return SinkCase(lambda: cls(next(paths)), items=points, delivered=rows)

    def truncate(self, length: int) -> None:
        """Drop what follows ``length`` bytes: rows a resume is about to write again."""
        self._text.seek(0)
        self._text.truncate()
        self._file.flush()
        self._file.truncate(length)
        os.fsync(self._file.fileno())
