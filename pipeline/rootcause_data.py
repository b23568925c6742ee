"""What the root-cause ranking keeps while a replay runs: per-stream series in time bins.

:class:`SeriesCollector` is a sink (route ``records``). Per bin of ``bin_s`` seconds
(aligned to the epoch) it keeps the sum and count of every parameter's and measured
characteristic's values, the parts inspected and the defective parts per defect code of
every inspecting station, and the inspected and nonconforming counts of attribute
records. Memory is bounded: when the data span more than ``max_bins`` bins, the bin width
doubles and neighbouring bins merge (their sums and counts add, so nothing is lost but
resolution); at most ``max_streams`` series are kept (more are counted in ``dropped``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime

from linewatch.pipeline.models import (
    Attribute,
    Inspection,
    Measurement,
    Output,
    Parameter,
    WireRecord,
)

__all__ = ["SeriesCollector", "SeriesKey"]

#: (line, station, stream): a parameter is ``equipment/name``, a defect code ``#code``
#: (from inspections) and ``parts`` the inspected parts (from inspections).
SeriesKey = tuple[str, str, str]

#: kind of a series: "value" (sum, count), "count" (parts or defective parts),
#: "attribute" (inspected, nonconforming).
_Bins = dict[int, list[float]]


class SeriesCollector:
    """A sink keeping bounded per-bin series for the root-cause ranking (see the module)."""

    def __init__(
        self, bin_s: float = 60.0, max_bins: int = 20_000, max_streams: int = 2_000
    ) -> None:
        if not (math.isfinite(bin_s) and bin_s > 0):
            raise ValueError(f"bin_s must be positive, got {bin_s}")
        if max_bins < 2:
            raise ValueError(f"max_bins must be at least 2, got {max_bins}")
        self.bin_s = bin_s
        self.max_bins = max_bins
        self.max_streams = max_streams
        self.values: dict[SeriesKey, _Bins] = {}
        self.counts: dict[SeriesKey, _Bins] = {}
        self.attributes: dict[SeriesKey, _Bins] = {}
        self.low: int | None = None
        self.high: int | None = None
        self.dropped = 0

    # -- the sink ----------------------------------------------------------------------

    def add(self, item: Output | WireRecord) -> None:
        if isinstance(item, Parameter):
            self._add(
                self.values,
                (item.line, item.station, f"{item.equipment}/{item.name}"),
                item.ts,
                item.value,
                1.0,
            )
        elif isinstance(item, Measurement):
            self._add(
                self.values,
                (item.line, item.station, item.characteristic),
                item.ts,
                item.value,
                1.0,
            )
        elif isinstance(item, Inspection):
            self._add(self.counts, (item.line, item.station, "parts"), item.ts, 1.0, 0.0)
            for code in set(item.defect_codes):
                self._add(self.counts, (item.line, item.station, f"#{code}"), item.ts, 1.0, 0.0)
        elif isinstance(item, Attribute):
            self._add(
                self.attributes,
                (item.line, item.station, item.characteristic),
                item.ts,
                float(item.inspected),
                float(item.nonconforming),
            )

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    # -- bins --------------------------------------------------------------------------

    def _add(
        self, table: dict[SeriesKey, _Bins], key: SeriesKey, ts: datetime, a: float, b: float
    ) -> None:
        bins = table.get(key)
        if bins is None:
            if self._streams() >= self.max_streams:
                self.dropped += 1
                return
            bins = table[key] = {}
        index = math.floor(ts.timestamp() / self.bin_s)
        cell = bins.get(index)
        if cell is None:
            bins[index] = [a, b]
        else:
            cell[0] += a
            cell[1] += b
        if self.low is None or index < self.low:
            self.low = index
        if self.high is None or index > self.high:
            self.high = index
        if self.high - self.low >= self.max_bins:
            self._coarsen()

    def _streams(self) -> int:
        return len(self.values) + len(self.counts) + len(self.attributes)

    def _coarsen(self) -> None:
        """Double the bin width: epoch-aligned bins merge pairwise (floor(i / 2))."""
        while (
            self.low is not None and self.high is not None and self.high - self.low >= self.max_bins
        ):
            self.bin_s *= 2
            for table in (self.values, self.counts, self.attributes):
                for key, bins in table.items():
                    merged: _Bins = {}
                    for index, (a, b) in bins.items():
                        cell = merged.get(index // 2)
                        if cell is None:
                            merged[index // 2] = [a, b]
                        else:
                            cell[0] += a
                            cell[1] += b
                    table[key] = merged
            self.low //= 2
            self.high //= 2

    # -- reading -----------------------------------------------------------------------

    def bins(self) -> int:
        """Bins from the first to the last one with data."""
        return 0 if self.low is None or self.high is None else self.high - self.low + 1

    def start(self) -> float | None:
        """Epoch seconds of the first bin's start."""
        return None if self.low is None else self.low * self.bin_s

    def dense(self, bins: _Bins, column: int) -> list[float]:
        """One column of a series on the full grid, ``nan`` where a bin is empty."""
        out = [math.nan] * self.bins()
        low = self.low or 0
        for index, cell in bins.items():
            out[index - low] = cell[column]
        return out

    def means(self, key: SeriesKey) -> list[float]:
        """Per-bin means of a value series (``nan`` for an empty bin)."""
        bins = self.values[key]
        out = [math.nan] * self.bins()
        low = self.low or 0
        for index, (total, count) in bins.items():
            out[index - low] = total / count
        return out

    def total(self, key: SeriesKey) -> list[float]:
        """Per-bin counts of a count series (0 for an empty bin)."""
        out = [0.0] * self.bins()
        low = self.low or 0
        for index, (count, _) in self.counts.get(key, {}).items():
            out[index - low] = count
        return out

    def stations(self) -> Iterable[tuple[str, str]]:
        keys = set(self.values) | set(self.counts) | set(self.attributes)
        return sorted({(k[0], k[1]) for k in keys})
