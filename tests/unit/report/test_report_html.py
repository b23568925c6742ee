"""The HTML report: one self-contained file, its sections, the ranking hook, exports."""

from __future__ import annotations

import gzip
import itertools
import re
from pathlib import Path

import pytest

from linewatch.pipeline.config import load_config
from linewatch.pipeline.job import build_job
from linewatch.pipeline.report_export import export_charts
from linewatch.pipeline.report_html import HtmlReport, build_html_report
from linewatch.pipeline.report_sections import EpisodeRanking, RankedCandidate, ranking_section

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> tuple[HtmlReport, Path, object]:
    folder = tmp_path_factory.mktemp("report")
    records = folder / "slice.jsonl"
    with gzip.open(ROOT / "examples" / "welding-line.jsonl.gz", "rt") as src:
        records.write_text("".join(itertools.islice(src, 4000)))
    config = load_config(ROOT / "examples" / "welding-line.yaml")
    job = build_job(
        config,
        mode="replay",
        input_path=records,
        out_dir=folder,
        report_path=folder / "r.html",
        console=None,
    )
    job.run()
    job.finish()
    assert job.charts is not None
    report = build_html_report(job.runner.summary, job.engine.stream_stats, job.charts)
    return report, folder / "r.html", job


def test_the_report_is_one_file_that_loads_nothing_from_the_network(
    replayed: tuple[HtmlReport, Path, object],
) -> None:
    _, path, _ = replayed
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert "window.vegaEmbed=" in text  # the bundle is inlined
    assert not re.search(r"<script[^>]+src=", text)
    assert not re.search(r"<link[^>]+href=", text)
    assert not re.search(r"""(src|href)=["']https?:""", text)
    assert text.count("<script") == 3  # bundle, specs, embed


def test_sections_and_one_container_per_chart(replayed: tuple[HtmlReport, Path, object]) -> None:
    report, path, job = replayed
    text = path.read_text(encoding="utf-8")
    for section in ("summary", "control", "capability", "alerts", "root-cause"):
        assert f'<section id="{section}">' in text
    containers = re.findall(r'<div class="chart" id="(chart-\d+)"', text)
    assert containers == list(report.charts.specs)
    streams = [s for s in job.engine.stream_stats if s.points > 0]  # type: ignore[attr-defined]
    names = list(report.charts.names.values())
    assert sum(
        n.count("/") >= 2 and not n.endswith(("capability", "Cpk", "fpy", "defect_rate"))
        for n in names
    ) == len(streams)
    assert "No root-cause ranking was computed for this replay." in text
    assert "@media print" in text and "break-before: page" in text


def test_a_stream_without_points_says_it_is_still_in_phase_one(
    replayed: tuple[HtmlReport, Path, object],
) -> None:
    _, path, job = replayed
    text = path.read_text(encoding="utf-8")
    waiting = [s for s in job.engine.stream_stats if s.points == 0]  # type: ignore[attr-defined]
    assert waiting, "the 4,000-record slice leaves the p charts in phase I"
    for s in waiting:
        assert (
            f"{s.observations} observations, no plotted points: the stream is still in phase I"
            in text
        )


def test_ranking_section_renders_the_candidates_in_order() -> None:
    html = ranking_section(
        [
            EpisodeRanking(
                "porosity rise 2026-11-02 20:00",
                [
                    RankedCandidate(
                        "weld-2/welder-07/tip_temp_c", 0.91, 300.0, "change point, lag 5 min"
                    ),
                    RankedCandidate("weld-2/nugget_dia_mm", 0.2, None, "lagged correlation"),
                ],
            )
        ],
        "Ranked by change-point strength and lead time.",
    )
    assert "<p>Ranked by change-point strength and lead time.</p>" in html
    rows = re.findall(r"<tr><td>(\d)</td><td>([^<]+)</td><td>([^<]+)</td><td>([^<]+)</td>", html)
    assert rows == [
        ("1", "weld-2/welder-07/tip_temp_c", "0.91", "5.0 min"),
        ("2", "weld-2/nugget_dia_mm", "0.2", "–"),
    ]


def test_static_page_has_an_svg_per_chart_and_no_script(
    replayed: tuple[HtmlReport, Path, object],
) -> None:
    report, _, _ = replayed
    page = report.page(static=True)
    assert "<script" not in page
    for chart_id in report.charts.specs:
        assert re.search(rf'<div class="chart" id="{chart_id}"[^>]*><svg', page)


def test_export_writes_svg_and_png_for_every_chart(
    replayed: tuple[HtmlReport, Path, object], tmp_path: Path
) -> None:
    report, _, _ = replayed
    written = export_charts(report, tmp_path)
    assert len(written) == 2 * len(report.charts.specs)
    for path in written:
        head = path.read_bytes()[:8]
        assert head == b"\x89PNG\r\n\x1a\n" if path.suffix == ".png" else head.startswith(b"<svg")


def test_rare_event_advice_is_in_the_html_summary_as_in_the_markdown() -> None:
    from linewatch.pipeline.alerts import StreamIdentity
    from linewatch.pipeline.assembly import StreamStats
    from linewatch.pipeline.rare_advice import report_section
    from linewatch.pipeline.report_data import ChartCollector
    from linewatch.pipeline.runner import RunSummary

    rare = StreamStats(StreamIdentity("L1", "paint", "runs"), "c", center=0.5)
    common = StreamStats(StreamIdentity("L1", "paint", "scratches"), "c", center=4.0)
    html = build_html_report(RunSummary(), [common, rare], ChartCollector()).body
    advice = (
        "c̄ = 0.5 is below 1 event per lot: a 3-sigma c chart is no 3-sigma chart here "
        "(UCL ≈ 2.62); chart the units between events (chart: g) or the time between them "
        "(chart: t)"
    )
    assert f"<h3>Rare events</h3><ul><li><code>L1/paint/runs</code>: {advice}.</li></ul>" in html
    assert "<code>L1/paint/scratches</code>" not in html  # c̄ = 4: a c chart is fine
    assert report_section([common, rare]) == [
        "## Rare events",
        "",
        f"- `L1/paint/runs`: {advice}.",
        "",
    ]
    no_rare = build_html_report(RunSummary(), [common], ChartCollector()).body
    assert "Rare events" not in no_rare
