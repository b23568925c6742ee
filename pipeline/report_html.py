"""The diagnosis report as one self-contained HTML file (``replay --report out.html``).

The Vega, Vega-Lite and vega-embed JavaScript comes from ``vl_convert.javascript_bundle()``
and is inlined, with every chart's spec, so the file opens offline with no CDN. The
static variant (for PDF and print) replaces each chart by the SVG vl-convert renders,
so it needs no script at all. Print CSS puts each section on a new A4 page and fits the
charts to the page width.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from linewatch.pipeline.engine import StreamStats
from linewatch.pipeline.rare_advice import report_notes
from linewatch.pipeline.report import FaultWindow, detection_table
from linewatch.pipeline.report_data import ChartCollector
from linewatch.pipeline.report_sections import (
    Charts,
    EpisodeRanking,
    alert_section,
    capability_section,
    control_section,
    esc,
    pareto_section,
    ranking_section,
    rates_table,
    severity_table,
    trend_section,
    ts,
)
from linewatch.pipeline.report_summary import episodes_that_matter, station_windows
from linewatch.pipeline.runner import RunSummary

__all__ = ["HtmlReport", "ReportError", "build_html_report", "javascript_bundle"]

MISSING_REPORT_EXTRA = "the HTML report needs vl-convert-python: pip install 'linewatch[report]'"


class ReportError(RuntimeError):
    """The report cannot be written (a missing extra, an unwritable path)."""


@dataclass(slots=True)
class HtmlReport:
    """The report's body and its charts; :meth:`page` makes the HTML file's text."""

    title: str
    body: str
    charts: Charts = field(default_factory=Charts)

    def page(self, *, static: bool = False) -> str:
        """The whole HTML document: interactive (inlined JS) or ``static`` (inline SVG)."""
        body = self.body
        if static:
            for chart_id, svg in render_svgs(self.charts.specs).items():
                start = body.index(f'id="{chart_id}"')
                close = body.index("></div>", start)
                body = body[: close + 1] + svg + body[close + 1 :]
            script = ""
        else:
            specs = _script_json({k: _with_schema(v) for k, v in self.charts.specs.items()})
            script = (
                f"<script>{_script_text(javascript_bundle())}</script>\n"
                f'<script type="application/json" id="chart-specs">{specs}</script>\n'
                f"<script>{_EMBED}</script>"
            )
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{esc(self.title)}</title><style>{_CSS}</style></head>\n"
            f"<body>{body}\n{script}</body></html>\n"
        )


_EMBED = """
(function () {
  var specs = JSON.parse(document.getElementById('chart-specs').textContent);
  var pending = Object.keys(specs).map(function (id) {
    return vegaEmbed('#' + id, specs[id], {renderer: 'svg', actions: false})
      .catch(function (err) { console.error('chart ' + id + ': ' + err); });
  });
  Promise.all(pending).then(function () { document.body.dataset.chartsReady = '1'; });
})();
"""

_CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif; margin: 0 auto;
       max-width: 1100px; padding: 1em 2em; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { border-bottom: 2px solid #4c78a8; padding-bottom: 0.2em; }
h3 { margin: 1.2em 0 0.3em; font-size: 1.05em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f0f4f8; } table.num td { text-align: right; } table.num td:first-child { text-align: left; }
tr.total td { font-weight: bold; } .delta { color: #666; font-size: 0.85em; } small { color: #666; }
.sev { padding: 0 0.4em; border-radius: 3px; color: white; } .sev.critical { background: #d62728; }
.sev.warning { background: #ff7f0e; } .sev.info { background: #1f77b4; }
figure { margin: 0.5em 0 1.2em; } .chart { width: 100%; min-height: 60px; }
.chart svg { max-width: 100%; height: auto; } .caption { color: #555; font-size: 0.85em; margin: 0.2em 0; }
.nochart { color: #555; } nav a { margin-right: 1em; }
@page { size: A4; margin: 12mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; } nav { display: none; }
  section { break-before: page; } section:first-of-type { break-before: auto; }
  figure, table, h3 { break-inside: avoid; } h3 { break-after: avoid; }
  .chart { width: 186mm; } .chart svg, .chart canvas { max-width: 186mm !important; height: auto !important; }
}
"""


def _with_schema(spec: dict[str, Any]) -> dict[str, Any]:
    return {"$schema": "https://vega.github.io/schema/vega-lite/v6.json", **spec}


def _script_text(text: str) -> str:
    # A literal "</script" inside a script element would end it early.
    return text.replace("</script", "<\\/script")


def _script_json(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")


def javascript_bundle() -> str:
    """Vega, Vega-Lite and vega-embed as one script (from vl-convert; no network)."""
    try:
        import vl_convert
    except ImportError as exc:  # pragma: no cover - the report extra is installed in dev
        raise ReportError(MISSING_REPORT_EXTRA) from exc
    # The snippet puts the three libraries on ``window`` for the embed script.
    snippet = "window.vegaEmbed = vegaEmbed; window.vega = vega; window.vegaLite = vegaLite;"
    return str(vl_convert.javascript_bundle(snippet))


def fixed_width(spec: dict[str, Any], width: int = 700) -> dict[str, Any]:
    """The spec with ``"container"`` widths made fixed (no container outside a browser)."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: (width if k == "width" and v == "container" else walk(v))
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return dict(walk(spec))


def render_svgs(specs: dict[str, dict[str, Any]], width: int = 700) -> dict[str, str]:
    """Each chart as SVG text, rendered by vl-convert without a browser."""
    try:
        import vl_convert
    except ImportError as exc:  # pragma: no cover
        raise ReportError(MISSING_REPORT_EXTRA) from exc
    return {
        k: str(vl_convert.vegalite_to_svg(_with_schema(fixed_width(v, width))))
        for k, v in specs.items()
    }


def build_html_report(
    summary: RunSummary,
    streams: Sequence[StreamStats],
    collector: ChartCollector,
    *,
    defect_codes: dict[str, int] | None = None,
    faults: Sequence[FaultWindow] = (),
    ranking: Sequence[EpisodeRanking] | None = None,
    ranking_method: str | None = None,
    title: str = "Linewatch diagnosis report",
    generated: datetime | None = None,
    autocorrelation: Sequence[str] = (),
) -> HtmlReport:
    """Lay out the report's sections from what the replay collected."""
    charts = Charts()
    span = collector.span()
    start, end = span if span else (None, None)
    alerts = list(summary.alerts) or collector.alerts
    fired = [a for a in alerts if a.status == "firing"]
    codes = dict(defect_codes or {})
    if not codes:
        for counter in collector.defect_codes.values():
            for code, n in counter.items():
                codes[code] = codes.get(code, 0) + n

    summary_html = [
        f"<p>Period {ts(start)} → {ts(end)} UTC; {summary.records_read:,} records read, "
        f"{summary.records_processed:,} processed, {summary.dead_letters:,} dead letters; "
        f"{len(streams)} streams charted; {len(fired)} alerts fired.</p>"
    ]
    windows = station_windows(collector)
    if windows:
        summary_html.append("<h3>Yield, defects and rework</h3>")
        summary_html += [rates_table(w) for w in windows]
        if len(windows) == 1:
            summary_html.append(
                "<p>The data covers less than two days, so there is no previous 24 hours to compare with.</p>"
            )
    else:
        summary_html.append("<p>No inspections in this data: no yield or defect rates.</p>")
    summary_html += ["<h3>Top defect codes</h3>", pareto_section(codes, charts)]
    summary_html += ["<h3>Alerts by severity</h3>", severity_table(alerts, end)]
    shown, total = episodes_that_matter(alerts, faults)
    summary_html.append("<h3>What was found</h3>")
    if shown:
        rows = "".join(
            f"<tr><td>{e.number}</td><td>{ts(e.start)}</td><td>{ts(e.end)}</td><td>{len(e.alerts)}</td>"
            f"<td>{'<br>'.join(esc(s) for s in e.streams)}</td><td>{esc(e.fault or '–')}</td></tr>"
            for e in shown
        )
        summary_html.append(
            f"<p>The {len(shown)} weightiest of {total} episodes (alerts less than an hour apart), by "
            "streams involved, then critical alerts; the first stream listed signalled first, often "
            "nearest the cause. All alerts are on the timeline below.</p>"
            "<table><tr><th>episode</th><th>first alert</th><th>last alert</th><th>alerts</th>"
            f"<th>streams (first alert each)</th><th>known fault</th></tr>{rows}</table>"
        )
    else:
        summary_html.append("<p>Nothing: no alert fired.</p>")
    if faults:
        found = detection_table(faults, alerts)
        rows = "".join(
            f"<tr><td>{esc(d.fault.name)}</td><td>{esc(d.fault.target)}</td>"
            f"<td>{'yes' if d.first_alert else '<b>no</b>'}</td>"
            f"<td>{'–' if d.delay_s is None else f'{d.delay_s / 60:.1f} min'}</td></tr>"
            for d in found
        )
        summary_html.append(
            "<h3>Known faults</h3><table><tr><th>fault</th><th>target</th><th>detected</th>"
            f"<th>delay</th></tr>{rows}</table>"
        )
        if start is not None and end is not None:
            from linewatch.pipeline.budget_report import in_control_alarms, in_control_sentence

            fired_at = [a.starts_at for a in alerts if a.status == "firing"]
            calm = in_control_alarms(faults, fired_at, start, end)
            summary_html.append(f"<p>{esc(in_control_sentence(calm, ('', '')))}</p>")
    if autocorrelation:
        items = "".join(f"<li>{esc(text)}</li>" for text in autocorrelation)
        summary_html.append(f"<h3>Autocorrelated streams</h3><ul>{items}</ul>")
    rare = report_notes(streams)
    if rare:
        items = "".join(f"<li><code>{esc(who)}</code>: {esc(advice)}.</li>" for who, advice in rare)
        summary_html.append(f"<h3>Rare events</h3><ul>{items}</ul>")
    trends = trend_section(collector, charts)
    if trends:
        summary_html += ["<h3>Yield and defect rate over time</h3>", trends]

    sections = [
        ("summary", "Summary", "\n".join(summary_html)),
        ("control", "Control charts", control_section(streams, collector, charts)),
        ("capability", "Capability", capability_section(collector, charts)),
        ("alerts", "Alert timeline", alert_section(alerts, end, charts)),
        ("root-cause", "Root-cause ranking", ranking_section(ranking, ranking_method)),
    ]
    stamp = (generated or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    nav = "".join(f'<a href="#{key}">{esc(name)}</a>' for key, name, _ in sections)
    body = (
        f"<header><h1>{esc(title)}</h1><p>Generated {stamp} UTC.</p><nav>{nav}</nav></header>\n"
        + "\n".join(
            f'<section id="{key}"><h2>{esc(name)}</h2>\n{content}</section>'
            for key, name, content in sections
        )
    )
    return HtmlReport(title, body, charts)
