"""The sections of the HTML report: each returns its HTML and the charts it placed.

A chart is a ``<div class="chart" id=...>`` and its Vega-Lite spec, drawn by the page's
script (or replaced by a pre-rendered SVG in the static, printable variant).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from linewatch.detectors.base import DetectorInputError
from linewatch.detectors.spc.capability import capability
from linewatch.pipeline.charts import (
    AlertSpan,
    alert_timeline,
    capability_chart,
    control_chart,
    location_and_dispersion,
    pareto_chart,
    trend_chart,
)
from linewatch.pipeline.engine import StreamStats
from linewatch.pipeline.models import Alert
from linewatch.pipeline.report_data import ChartCollector
from linewatch.pipeline.report_summary import Rates, Window, severity_counts

__all__ = [
    "Charts",
    "EpisodeRanking",
    "RankedCandidate",
    "alert_section",
    "capability_section",
    "control_section",
    "ranking_section",
    "rates_table",
    "trend_section",
]


@dataclass(slots=True)
class Charts:
    """The charts placed so far, by container id, in page order."""

    specs: dict[str, dict[str, Any]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)

    def place(self, name: str, spec: dict[str, Any], caption: str = "") -> str:
        chart_id = f"chart-{len(self.specs) + 1}"
        self.specs[chart_id] = spec
        self.names[chart_id] = name
        note = f'<p class="caption">{esc(caption)}</p>' if caption else ""
        return f'<figure><div class="chart" id="{chart_id}" data-name="{esc(name)}"></div>{note}</figure>'


@dataclass(frozen=True, slots=True)
class RankedCandidate:
    """One upstream stream suspected of an episode: how strongly, how early, by what."""

    stream: str
    score: float
    lead_time_s: float | None
    method: str


@dataclass(frozen=True, slots=True)
class EpisodeRanking:
    """The candidates of one episode (a defect-rate rise, an out-of-control run), best first."""

    episode: str
    candidates: Sequence[RankedCandidate]


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def ts(value: datetime | None) -> str:
    return "–" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def _delta(now: float | None, before: float | None) -> str:
    if now is None or before is None:
        return ""
    points = 100 * (now - before)
    return f' <span class="delta">({points:+.2f} pts)</span>'


def rates_table(window: Window) -> str:
    """One period's rates per station, with the change vs the previous period if known."""
    head = "<tr><th>station</th><th>parts</th><th>first-pass yield</th><th>defect rate</th><th>rework rate</th><th>DPU</th></tr>"
    rows = []
    for station, r in window.by_station.items():
        before: Rates | None = None if window.previous is None else window.previous.get(station)
        cells = [
            esc(station),
            f"{r.parts:,}"
            + (
                ""
                if before is None
                else f' <span class="delta">({r.parts - before.parts:+,})</span>'
            ),
            pct(r.fpy, 2) + _delta(r.fpy, None if before is None else before.fpy),
            pct(r.defect_rate, 2)
            + _delta(r.defect_rate, None if before is None else before.defect_rate),
            pct(r.rework_rate, 2)
            + _delta(r.rework_rate, None if before is None else before.rework_rate),
            ("–" if r.dpu is None else f"{r.dpu:.4f}")
            + (
                ""
                if before is None or before.dpu is None or r.dpu is None
                else f' <span class="delta">({r.dpu - before.dpu:+.4f})</span>'
            ),
        ]
        cls = ' class="total"' if station == "all stations" else ""
        rows.append(f"<tr{cls}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    note = (
        f"<p>{esc(window.label)}: {ts(window.start)} → {ts(window.end)} UTC"
        + (
            "; in brackets the change against the 24 hours before (percentage points)."
            if window.previous is not None
            else "."
        )
        + "</p>"
    )
    return note + f'<table class="num">{head}{"".join(rows)}</table>'


def severity_table(alerts: Sequence[Alert], data_end: datetime | None) -> str:
    counts = severity_counts(alerts, data_end)
    if not counts:
        return "<p>No alerts fired: every charted stream stayed in control.</p>"
    order = [s for s in ("critical", "warning", "info") if s in counts]
    rows = "".join(
        f'<tr><td><span class="sev {esc(s)}">{esc(s)}</span></td><td>{counts[s]["fired"]}</td>'
        f"<td>{counts[s]['resolved']}</td><td>{counts[s]['still firing']}</td></tr>"
        for s in order
    )
    return f'<table class="num"><tr><th>severity</th><th>fired</th><th>resolved</th><th>still firing at the end</th></tr>{rows}</table>'


def _stream_name(line: str, station: str, stream: str) -> str:
    return f"{line}/{station}/{stream}"


def control_section(
    streams: Sequence[StreamStats], collector: ChartCollector, charts: Charts
) -> str:
    """One chart container per charted stream: X̄ with R/S below, or the single chart."""
    parts: list[str] = []
    for s in sorted(
        streams, key=lambda s: (s.identity.line, s.identity.station, s.identity.characteristic)
    ):
        ident = s.identity
        name = _stream_name(ident.line, ident.station, ident.characteristic)
        keys = [
            k
            for k in collector.series
            if k[:3] == (ident.line, ident.station, ident.characteristic)
        ]
        keys.sort(key=lambda k: (k[3] != s.main_chart, k[3]))
        if not keys:
            size = collector.phase1.get((ident.line, ident.station, ident.characteristic), 0)
            got, need = s.phase1_progress
            progress = (
                f"in phase I: {got} of {need} needed"
                if need
                else f"its limits need {size} observations"
            )
            parts.append(
                f'<div class="nochart"><h3>{esc(name)}</h3><p>{s.observations} observations, no plotted '
                f"points: the stream is still in phase I ({progress}).</p></div>"
            )
            continue
        built = []
        for key in keys:
            series = collector.series[key]
            thinned = (
                "" if series.stride == 1 else f", every {series.stride}th shown + all violations"
            )
            title = f"{key[3]} chart ({series.total} points, {series.violating} violating{thinned})"
            built.append(control_chart(series.rows, title, y_title=key[3]))
        spec = built[0] if len(built) == 1 else location_and_dispersion(built[0], built[1], name)
        if len(built) == 1:
            spec["title"] = f"{name}: {built[0]['title']}"
        for extra in built[2:]:
            spec = {"vconcat": [spec, extra], "resolve": {"scale": {"x": "shared"}}}
        signals = ", ".join(f"{rule}×{n}" for rule, n in sorted(s.signals.items())) or "none"
        parts.append(
            f"<h3>{esc(name)}</h3>"
            + charts.place(
                name,
                spec,
                f"{s.chart}: {s.observations} observations, {s.points} points; signals: {signals}. "
                "Drag to pan, wheel to zoom the time axis.",
            )
        )
    return "\n".join(parts) or "<p>No stream was charted.</p>"


def _index_cell(indices: dict[str, Any], name: str) -> str:
    found = indices.get(name)
    if found is None:
        return "–"
    return f"{found.value:.3f} <small>[{found.lower:.3f}, {found.upper:.3f}]</small>"


def capability_section(collector: ChartCollector, charts: Charts) -> str:
    """Per characteristic with spec limits: indices table, histogram, rolling Cpk."""
    out: list[str] = []
    for key, series in sorted(collector.values.items()):
        spec = collector.specs[key]
        name = "/".join(key)
        groups = [list(g) for g in series.groups]
        values = [v for g in groups for v in g]
        try:
            result = capability(groups, spec.lsl, spec.usl, spec.target)
        except (DetectorInputError, ValueError) as exc:
            out.append(f"<h3>{esc(name)}</h3><p>No capability: {esc(exc)}.</p>")
            continue
        kept = (
            "" if series.seen == len(values) else f" (the last {len(values):,} of {series.seen:,})"
        )
        cells = "".join(
            f"<td>{_index_cell(result.indices, k)}</td>" for k in ("cp", "cpk", "pp", "ppk", "cpm")
        )
        out.append(
            f"<h3>{esc(name)}</h3>"
            f"<p>LSL {spec.lsl}, target {spec.target}, USL {spec.usl}; {len(values):,} values{kept} "
            f"in subgroups of {spec.subgroup_size}; 95% confidence intervals in brackets.</p>"
            '<table class="num"><tr><th>Cp</th><th>Cpk</th><th>Pp</th><th>Ppk</th><th>Cpm</th></tr>'
            f"<tr>{cells}</tr></table>"
        )
        out.append(
            charts.place(
                f"{name} capability",
                capability_chart(
                    values,
                    f"{name}: capability",
                    mean=result.mean,
                    sigma_within=result.sigma_within,
                    sigma_overall=result.sigma_overall,
                    lsl=spec.lsl,
                    usl=spec.usl,
                    target=spec.target,
                    indices={
                        k: {"value": i.value, "lower": i.lower, "upper": i.upper}
                        for k, i in result.indices.items()
                    },
                ),
            )
        )
        rolling = collector.kpis.get((key[0], key[1], key[2], "cpk"))
        if rolling is not None and rolling.rows:
            out.append(
                charts.place(
                    f"{name} rolling Cpk",
                    trend_chart(
                        [(r.ts, r.value) for r in rolling.rows],
                        f"{name}: rolling Cpk (one value per capability window)",
                        "Cpk",
                        reference=1.33,
                        y_format=".2f",
                    ),
                    "The dashed line is Cpk 1.33.",
                )
            )
    return (
        "\n".join(out)
        or "<p>No characteristic has specification limits, so there is no capability to report.</p>"
    )


def trend_section(collector: ChartCollector, charts: Charts) -> str:
    """First-pass yield and defect rate over time, per inspecting station."""
    out = []
    stations = sorted({(k[0], k[1]) for k in collector.kpis if k[3] in ("fpy", "defect_rate")})
    for line, station in stations:
        for kpi, label in (("fpy", "first-pass yield"), ("defect_rate", "defect rate")):
            series = collector.kpis.get((line, station, "", kpi))
            if series is None or not series.rows:
                continue
            out.append(
                charts.place(
                    f"{line}/{station} {kpi}",
                    trend_chart(
                        [(r.ts, r.value) for r in series.rows],
                        f"{line}/{station}: {label} (rolling window)",
                        label,
                        y_format=".1%",
                    ),
                )
            )
    return "\n".join(out)


def alert_section(alerts: Sequence[Alert], data_end: datetime | None, charts: Charts) -> str:
    fired = [a for a in alerts if a.status == "firing"]
    if not fired or data_end is None:
        return "<p>No alerts.</p>"
    ends = {(a.fingerprint, a.alert_id): a.ends_at for a in alerts if a.status == "resolved"}
    spans = [
        AlertSpan(
            f"{a.station}/{a.characteristic} {a.chart}",
            a.rule,
            a.severity,
            a.starts_at,
            ends.get((a.fingerprint, a.alert_id)),
        )
        for a in fired
    ]
    return charts.place(
        "alert timeline",
        alert_timeline(spans, data_end),
        f"{len(fired)} alerts; one lane per stream and chart, a bar from firing to resolved "
        "(to the end of the data when still firing).",
    )


def ranking_section(ranking: Sequence[EpisodeRanking] | None, method: str | None) -> str:
    """The root-cause ranking table, or a plain statement that there is none."""
    if not ranking:
        return (
            "<p>No root-cause ranking was computed for this replay. When one is, each "
            "episode lists the upstream parameters and characteristics ranked by how much "
            "and how early they changed before it.</p>"
        )
    out = [f"<p>{esc(method)}</p>"] if method else []
    for entry in ranking:
        rows = "".join(
            f"<tr><td>{rank}</td><td>{esc(c.stream)}</td><td>{c.score:.3g}</td>"
            f"<td>{'–' if c.lead_time_s is None else f'{c.lead_time_s / 60:.1f} min'}</td>"
            f"<td>{esc(c.method)}</td></tr>"
            for rank, c in enumerate(entry.candidates, start=1)
        )
        out.append(
            f"<h3>{esc(entry.episode)}</h3>"
            "<table><tr><th>rank</th><th>stream</th><th>score</th><th>lead time</th><th>method</th></tr>"
            f"{rows}</table>"
        )
    return "\n".join(out)


def pareto_section(defect_codes: dict[str, int], charts: Charts) -> str:
    if not defect_codes:
        return "<p>No defect codes were recorded.</p>"
    return charts.place("defect pareto", pareto_chart(defect_codes))
