"""Where an np or c chart watches events too rare for 3-sigma limits, say so.

:func:`~linewatch.detectors.spc.rare.rare_event_advice` judges a mean count per lot (np̄
or c̄). ``check-config`` knows it before any data when the config gives it: a c chart's
``limits.center`` (c̄), an np chart's ``limits.center`` (p̄) times the simulated lot size,
or a simulated defect's ``base_rate`` times its station's ``lot_size``. The report knows it
from each stream's estimated center.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from linewatch.detectors.spc.rare import rare_event_advice
from linewatch.pipeline.assembly import StreamStats
from linewatch.pipeline.config import Config

__all__ = ["config_warnings", "report_notes", "report_section"]


def config_warnings(config: Config) -> list[str]:
    """One line per np/c chart of ``config`` whose expected np̄ or c̄ is below 1."""
    return list(_config_warnings(config))


def _config_warnings(config: Config) -> Iterator[str]:
    lots = _simulated_lots(config.simulation)
    for i, line in enumerate(config.lines):
        for j, station in enumerate(line.stations):
            for k, characteristic in enumerate(station.characteristics):
                chart = characteristic.chart
                if chart not in ("np", "c"):
                    continue
                lot = lots.get((line.name, station.name, characteristic.name))
                mean, source = _expected_mean(chart, characteristic.limits, lot)
                advice = rare_event_advice(chart, mean)
                if advice is not None:
                    at = f"lines[{i}].stations[{j}].characteristics[{k}]"
                    yield f"{at} ({characteristic.name}): {advice} ({source})"


def _expected_mean(
    chart: str, limits: Any, lot: tuple[int, float] | None
) -> tuple[float | None, str]:
    if limits is not None:
        if chart == "c":
            return float(limits.center), "limits.center"
        if lot is not None:
            return lot[0] * float(limits.center), "limits.center × the simulated lot_size"
    if lot is not None:
        return lot[0] * lot[1], "the simulation's lot_size × base_rate"
    return None, ""


def _simulated_lots(simulation: Any) -> dict[tuple[str, str, str], tuple[int, float]]:
    """(line, station, defect code) -> (lot size, base rate) of the simulated line."""
    if simulation is None:
        return {}
    found = {}
    for station in getattr(simulation, "stations", ()):
        lot_size = getattr(station, "lot_size", None)
        if lot_size is None:
            continue
        for defect in getattr(station, "defects", ()):
            key = (simulation.line, station.name, defect.code)
            found[key] = (int(lot_size), float(defect.base_rate))
    return found


def report_notes(streams: Sequence[StreamStats]) -> list[tuple[str, str]]:
    """``(line/station/characteristic, advice)`` per np/c stream whose np̄ or c̄ is below 1."""
    notes = []
    for s in sorted(
        streams, key=lambda s: (s.identity.line, s.identity.station, s.identity.characteristic)
    ):
        advice = rare_event_advice(s.chart, s.center)
        if advice is not None:
            who = f"{s.identity.line}/{s.identity.station}/{s.identity.characteristic}"
            notes.append((who, advice))
    return notes


def report_section(streams: Sequence[StreamStats]) -> list[str]:
    """The Markdown report's *Rare events* section (no lines when no np/c chart needs it)."""
    notes = [f"- `{who}`: {advice}." for who, advice in report_notes(streams)]
    if not notes:
        return []
    return ["## Rare events", "", *notes, ""]
