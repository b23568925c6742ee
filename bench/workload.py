"""The data and the SPC job every `make bench` contender shares.

Six copies of the simulator's welding line (``L1``..``L6``, textbook faults injected),
merged in time order; the job charts every characteristic and parameter of each line with
I-MR and all eight Nelson tests (what the Quix contender runs with Linewatch's IMRChart).
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from linewatch.connectors import simulator as sim
from linewatch.pipeline.models import WireRecord

__all__ = ["LINES", "START", "simulated_records", "spc_lines"]

LINES = [f"L{n}" for n in range(1, 7)]
START = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)


def _line(name: str) -> sim.LineSim:
    return dataclasses.replace(sim.welding_line(), line=name)


def spc_lines() -> list[dict[str, Any]]:
    """The config's ``lines``: I-MR, Nelson tests 1-8, on every characteristic and parameter."""
    lines = []
    for name in LINES:
        stations = [
            {
                "name": station.name,
                "characteristics": [
                    {"name": c.name, "chart": "imr", "rules": "nelson"}
                    for c in station.characteristics
                ],
                "parameters": [
                    {"equipment": p.equipment, "name": p.name, "chart": "imr", "rules": "nelson"}
                    for p in station.parameters
                ],
            }
            for station in _line(name).stations
        ]
        lines.append({"name": name, "stations": stations})
    return lines


def simulated_records(n: int) -> list[WireRecord]:
    """``n`` records of six welding lines with the textbook faults injected, in time order."""
    line = _line(LINES[0])
    per_part = (
        sum(len(s.characteristics) + len(s.parameters) + s.inspects for s in line.stations) + 0.1
    )
    minutes = n / len(LINES) / per_part * line.cycle_s / 60 * 1.05 + 1
    streams: list[Iterator[WireRecord]] = [
        sim.simulate(_line(name), START, minutes, sim.welding_faults(), seed=100 + i)
        for i, name in enumerate(LINES)
    ]
    records: list[WireRecord] = []
    for record in heapq.merge(*streams, key=lambda r: r.ts):
        records.append(record)
        if len(records) == n:
            return records
    raise RuntimeError(f"the simulator gave {len(records)} records, fewer than {n}")
