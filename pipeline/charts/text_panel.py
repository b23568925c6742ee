"""A block of monospaced text lines as a Vega-Lite chart (a table beside a chart).

Vega-Lite has no table mark; one text mark per line, placed by its line number, renders
the same in a browser and in an exported PNG/SVG/PDF.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["text_panel"]


def text_panel(
    lines: Sequence[str], title: str = "", width: int = 420, line_height: int = 14
) -> dict[str, Any]:
    """``lines`` top to bottom in a monospaced font (blank lines keep their space).

    Spaces become no-break spaces: SVG collapses runs of ordinary ones, and the columns
    of a table are aligned by them.

    >>> spec = text_panel(["a", "", "b"])
    >>> [v["line"] for v in spec["data"]["values"]], spec["height"]
    (['a', '', 'b'], 42)
    >>> text_panel(["a  b"])["data"]["values"][0]["line"] == "a\u00a0\u00a0b"
    True
    """
    return {
        "title": title,
        "width": width,
        "height": line_height * len(lines),
        "data": {
            "values": [
                {"row": i * line_height, "line": text.replace(" ", "\u00a0")}
                for i, text in enumerate(lines)
            ]
        },
        "mark": {
            "type": "text",
            "align": "left",
            "baseline": "top",
            "font": "monospace",
            "fontSize": 11,
        },
        "encoding": {
            "x": {"value": 0},
            "y": {"field": "row", "type": "quantitative", "scale": None},
            "text": {"field": "line", "type": "nominal"},
        },
        "view": {"stroke": None},
    }
