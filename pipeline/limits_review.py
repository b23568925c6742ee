"""The review of an estimate: a table of the new limits and each stream's phase-I charts.

One self-contained HTML page (the report's own page and chart machinery,
:class:`~linewatch.pipeline.report_html.HtmlReport`), so it opens offline, prints, and its
charts export as SVG/PNG like the report's. Streams still in phase I are listed with
their progress; a lag-1 autocorrelation of :data:`AUTOCORRELATION_WARN` or more is
flagged, since Shewhart limits from autocorrelated data are too narrow.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from linewatch.pipeline.charts.control import ChartRow, location_and_dispersion
from linewatch.pipeline.charts.phase1 import phase1_chart, phase1_rows
from linewatch.pipeline.limits_estimate import Estimate, Phase1Window
from linewatch.pipeline.limits_file import stream_key
from linewatch.pipeline.report_html import HtmlReport
from linewatch.pipeline.report_sections import Charts, esc

__all__ = ["AUTOCORRELATION_WARN", "build_review"]

#: |r1| at or above which the review warns that the limits will be too narrow.
AUTOCORRELATION_WARN = 0.5


def _num(value: Any) -> str:
    return "–" if value is None else f"{value:.6g}"


def _charts(window: Phase1Window, charts: Charts) -> str:
    names = list(dict.fromkeys(p.chart for p in window.points))
    specs = []
    for chart in names:
        rows = [
            ChartRow(p.ts, p.value, p.cl, p.ucl, p.lcl, p.zone, tuple(p.violations), 1)
            for p in window.points
            if p.chart == chart
        ]
        # The location chart has one point per observation; a dispersion chart that starts
        # at the second (moving range) is shifted by one.
        offset = window.entry["n"] - len(rows)
        excluded = {i - offset for i in window.excluded if i >= offset}
        specs.append(phase1_chart(phase1_rows(rows, excluded), chart, chart))
    name = stream_key(*window.key)
    if len(specs) == 2:
        return charts.place(name, location_and_dispersion(specs[0], specs[1], name))
    placed = zip(names, specs, strict=True)
    return "".join(charts.place(f"{name} {chart}", spec) for chart, spec in placed)


def build_review(estimate: Estimate, title: str, made_at: datetime) -> HtmlReport:
    """The review page of ``estimate``."""
    charts = Charts()
    rows = []
    warnings = []
    for key in sorted(estimate.windows):
        entry = estimate.windows[key].entry
        main: dict[str, Any] = next(iter(entry["limits"].values()), {})
        r1 = entry["lag1_autocorrelation"]
        if r1 is not None and abs(r1) >= AUTOCORRELATION_WARN:
            warnings.append(
                f"<li>{esc(stream_key(*key))}: lag-1 autocorrelation {r1:.2f}; Shewhart limits "
                "will be too narrow (subgroup the data, chart it with EWMA, use "
                "<code>sigma: overall</code>, or chart the residuals of an AR(1) fit)</li>"
            )
        rows.append(
            f"<tr><td>{esc(stream_key(*key))}</td><td>{esc(entry['chart'])}</td>"
            f"<td>{esc(entry['estimator'] or '–')}</td><td>{entry['n']}</td>"
            f"<td>{len(entry['excluded'])}</td><td>{_num(entry['center'])}</td>"
            f"<td>{_num(entry['sigma'])}</td><td>{_num(main.get('lcl'))}</td>"
            f"<td>{_num(main.get('ucl'))}</td><td>{_num(r1)}</td>"
            f"<td>{esc(entry['window']['first'])} – {esc(entry['window']['last'])}</td></tr>"
        )
    body = [
        f"<h1>{esc(title)}</h1>",
        f"<p>Estimated {esc(made_at.isoformat())} from {estimate.records} records "
        f"({estimate.refused} refused, {estimate.dead_letters} dead letters). "
        "Review the charts, then <code>linewatch limits approve FILE --by NAME</code>.</p>",
        "<section><h2>New limits</h2>",
        '<table class="num"><tr><th>stream</th><th>chart</th><th>estimator</th><th>n</th>'
        "<th>excluded</th><th>center</th><th>σ</th><th>LCL</th><th>UCL</th><th>r1</th>"
        "<th>phase-I window (UTC)</th></tr>",
        *rows,
        "</table>",
    ]
    if warnings:
        body += ["<p><b>Autocorrelation</b></p><ul>", *warnings, "</ul>"]
    if estimate.incomplete:
        body.append("<p><b>Still in phase I</b> (no limits estimated):</p><ul>")
        body += [
            f"<li>{esc(stream_key(*k))}: in phase I: {got} of {need} needed</li>"
            for k, (got, need) in sorted(estimate.incomplete.items())
        ]
        body.append("</ul>")
    body.append("</section><section><h2>Phase-I charts</h2>")
    for key in sorted(estimate.windows):
        window = estimate.windows[key]
        body.append(f"<h3>{esc(stream_key(*key))}</h3>")
        body.append(_charts(window, charts))
    body.append("</section>")
    return HtmlReport(title, "\n".join(body), charts)
