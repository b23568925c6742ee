"""``analyze --plot``: the control chart(s) and the capability panel as PNG, SVG or PDF.

The figure is built from the report's chart builders (:mod:`linewatch.pipeline.charts`),
so it looks like the HTML report's charts: CL, UCL/LCL, the ±1σ/±2σ zone lines, phase I
shaded; every failing point is ringed and labelled with its 1-based point number and the
tests it failed (``53 (test 1)``), as in the summary. X̄ is drawn above its R or S chart,
I above MR. With spec limits, the capability histogram (within and overall normal
curves, LSL/target/USL) sits beside a table of the indices with their intervals, the
PPM and the Anderson–Darling test. vl-convert renders it without a browser.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from linewatch.detectors.spc.analyze import AnalysisResult, ChartSeries
from linewatch.pipeline.analyze_capability import CapabilityReport
from linewatch.pipeline.analyze_summary import CHART_TITLES, capability_text, series_title
from linewatch.pipeline.charts import (
    VEGA_LITE_SCHEMA,
    ChartRow,
    capability_chart,
    control_chart,
    location_and_dispersion,
)
from linewatch.pipeline.charts.text_panel import text_panel

__all__ = ["FORMATS", "plot_spec", "point_label", "series_rows", "write_plot"]

FORMATS = ("png", "svg", "pdf")
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def point_label(index: int, rules: Sequence[str]) -> str:
    """The label of a failing point: its 1-based number and its tests.

    >>> point_label(52, ["nelson1", "nelson5"])
    '53 (test 1, 5)'
    """
    tests = [r[6:] if r.startswith("nelson") else r for r in rules]
    return f"{index + 1} (test {', '.join(tests)})"


def series_rows(
    series: ChartSeries, phase1: int, n: int, times: Sequence[datetime] | None = None
) -> list[ChartRow]:
    """The plotted points of one chart as the builders take them."""
    flagged: dict[int, list[str]] = {}
    for rule, indices in sorted(series.violations.items()):
        for i in indices:
            flagged.setdefault(i, []).append(rule)
    rows = []
    for i, value, center, lcl, ucl in zip(
        series.index, series.value, series.center, series.lcl, series.ucl, strict=True
    ):
        rules = tuple(flagged.get(i, ()))
        rows.append(
            ChartRow(
                ts=times[i] if times else _EPOCH + timedelta(seconds=i),
                value=value,
                cl=center,
                ucl=ucl,
                lcl=lcl,
                violations=rules,
                phase="I" if phase1 < n and i < phase1 else "II",
                number=i + 1,
                extra={"label": point_label(i, rules)} if rules else {},
            )
        )
    return rows


def plot_spec(
    result: AnalysisResult,
    *,
    of: str,
    times: Sequence[datetime] | None = None,
    capability: CapabilityReport | None = None,
    width: int = 640,
) -> dict[str, Any]:
    """The whole figure as one Vega-Lite spec."""
    title = f"{CHART_TITLES.get(result.chart, result.chart)} of {of}"
    axis = "time" if times else "number"
    charts = [
        control_chart(
            series_rows(series, result.phase1, result.n, times),
            f"{series_title(name)} chart",
            y_title=series_title(name),
            width=width,
            x_axis=axis,
        )
        for name, series in result.charts.items()
    ]
    parts: list[dict[str, Any]] = []
    if len(charts) == 2:
        parts.append(location_and_dispersion(charts[0], charts[1], title))
    elif charts:
        parts.append({"title": title, "vconcat": charts})
    if capability is not None:
        r = capability.result
        histogram = capability_chart(
            capability.values,
            f"Process Capability of {of}",
            mean=r.mean,
            sigma_within=r.sigma_within,
            sigma_overall=r.sigma_overall,
            lsl=capability.lsl,
            usl=capability.usl,
            target=capability.target,
            indices=r.to_dict()["indices"],
            width=max(320, width - 440),
            height=260,
        )
        parts.append({"hconcat": [histogram, text_panel(capability_text(capability, of)[2:])]})
    spec: dict[str, Any] = parts[0] if len(parts) == 1 else {"vconcat": parts}
    return {
        "$schema": VEGA_LITE_SCHEMA,
        **_static(spec),
        # the limit lines and the normal curves colour different things
        "resolve": {"scale": {"color": "independent", "strokeDash": "independent"}},
        "config": {"background": "white"},
    }


def _static(node: Any) -> Any:
    """The spec without its zoom bindings: a file does not pan, and a bound scale clips the
    labels of points near the edge."""
    if isinstance(node, dict):
        return {k: _static(v) for k, v in node.items() if k != "params"}
    if isinstance(node, list):
        return [_static(v) for v in node]
    return node


def write_plot(spec: dict[str, Any], path: Path) -> Path:
    """Render ``spec`` to ``path``; the suffix (.png, .svg, .pdf) picks the format."""
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(f"--plot {path}: the file name must end in .png, .svg or .pdf")
    try:
        import vl_convert
    except ImportError:  # pragma: no cover - the report extra is installed with the CLI
        raise ValueError(
            "--plot needs vl-convert-python: pip install 'linewatch[report]'"
        ) from None
    try:
        if fmt == "svg":
            path.write_text(str(vl_convert.vegalite_to_svg(spec)), encoding="utf-8")
        elif fmt == "png":
            path.write_bytes(bytes(vl_convert.vegalite_to_png(spec, scale=2)))
        else:
            path.write_bytes(bytes(vl_convert.vegalite_to_pdf(spec)))
    except OSError as exc:
        raise ValueError(f"--plot {path}: cannot write: {exc.strerror}") from None
    return path
