"""The README's chart table, generated from the chart registry.

``python -m linewatch.pipeline.registry_doc`` prints it; a test holds the README to it.

>>> print(chart_table().splitlines()[2])
| `imr` | variables | one value | characteristics, parameters | `mr`, `median_mr`, `overall`, `sd` | Individuals and moving range (I-MR): one value at a time |
"""

from __future__ import annotations

from linewatch.detectors.registry import ChartInfo, charts

__all__ = ["BEGIN", "END", "chart_table", "main"]

BEGIN = "<!-- chart table: python -m linewatch.pipeline.registry_doc -->"
END = "<!-- end of chart table -->"

_TAKES = {
    "value": "one value",
    "subgroup": "a subgroup",
    "values": "a value or a subgroup",
    "parts": "a value and its part number",
    "vector": "named values",
}


def _where(info: ChartInfo) -> str:
    if info.kind == "multivariate":
        return "`multivariate[]`; analyze"
    if info.kind == "capability":
        return "`capability:` of a characteristic; analyze"
    return ", ".join(info.streams)


def _takes(info: ChartInfo) -> str:
    if info.takes == "counts":
        return "attribute record (CSV: " + ",".join(info.columns) + ")"
    return _TAKES[info.takes]


def chart_table() -> str:
    """A markdown table: chart, kind, observation, where it may be used, sigma, description."""
    rows = [
        "| chart | kind | one observation | used in | `sigma` | description |",
        "|---|---|---|---|---|---|",
    ]
    for info in charts():
        sigma = ", ".join(f"`{m}`" for m in info.sigma_methods) or "–"
        rows.append(
            f"| `{info.name}` | {info.kind} | {_takes(info)} | {_where(info)} | {sigma} "
            f"| {info.description} |"
        )
    return "\n".join(rows)


def main() -> None:
    print(chart_table())


if __name__ == "__main__":
    main()
