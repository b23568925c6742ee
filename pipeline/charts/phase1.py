"""Phase-I review charts: the control chart of a phase-I window with its excluded points marked.

Built on :func:`~linewatch.pipeline.charts.control.control_chart` (same limits, zones and
violation labels), plus one layer: each observation the exclusion passes left out of the
estimate is crossed in black and labelled ``excluded``. The HTML report and ``linewatch
limits estimate --review`` both use it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from typing import Any

from linewatch.pipeline.charts.control import ChartRow, control_chart

__all__ = ["phase1_chart", "phase1_rows"]


def phase1_rows(rows: Sequence[ChartRow], excluded: Collection[int]) -> list[ChartRow]:
    """``rows`` as phase-I rows, numbered from 1, with ``excluded`` (0-based) flagged.

    >>> from datetime import UTC, datetime
    >>> row = ChartRow(datetime(2026, 1, 1, tzinfo=UTC), 1.0, 0.0, 3.0, -3.0)
    >>> [(r.number, r.phase, r.extra["excluded"]) for r in phase1_rows([row, row], {1})]
    [(1, 'I', False), (2, 'I', True)]
    """
    return [
        replace(row, phase="I", number=i + 1, extra={**row.extra, "excluded": i in excluded})
        for i, row in enumerate(rows)
    ]


def phase1_chart(
    rows: Sequence[ChartRow], title: str, y_title: str = "value", width: int | str = "container"
) -> dict[str, Any]:
    """The control chart of phase-I ``rows`` (from :func:`phase1_rows`), exclusions crossed."""
    spec = control_chart(rows, title, y_title, width=width)
    if any(row.extra.get("excluded") for row in rows):  # an empty layer draws a warning
        marked = {"filter": "datum.excluded == true"}
        x = next(layer["encoding"]["x"] for layer in spec["layer"] if "params" in layer)
        spec["layer"] += [
            {
                "transform": [marked],
                "mark": {"type": "point", "shape": "cross", "color": "black", "size": 90},
                "encoding": {
                    "x": x,
                    "y": {"field": "value", "type": "quantitative"},
                    "tooltip": {"value": "excluded from the estimate"},
                },
            },
            {
                "transform": [marked],
                "mark": {"type": "text", "dy": 12, "fontSize": 9, "color": "black"},
                "encoding": {
                    "x": x,
                    "y": {"field": "value", "type": "quantitative"},
                    "text": {"value": "excluded"},
                },
            },
        ]
    return spec
