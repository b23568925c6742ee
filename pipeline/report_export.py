"""Export: each chart of the report as SVG and PNG, and the whole report as PDF.

Charts are rendered by vl-convert (no browser). The PDF is the static variant of the
report (charts as inline SVG, no script) printed by headless Chromium
(``--print-to-pdf``): vl-convert makes one PDF per chart but cannot lay out the tables
and text around them, and printing the static page needs no JavaScript timing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from linewatch.pipeline.report_html import (
    MISSING_REPORT_EXTRA,
    HtmlReport,
    ReportError,
    _with_schema,
    fixed_width,
)

__all__ = ["CHROMIUM_HINT", "chromium_path", "export_charts", "html_to_pdf", "write_report_file"]

CHROMIUM_HINT = "the PDF report needs Chromium: apt-get install chromium chromium-driver (or make servers-install)"
#: Flags for a headless Chromium on a machine with no network: no first-run, sync,
#: component updates or background requests that would only fail.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "chart"


def export_charts(
    report: HtmlReport, out_dir: Path, formats: tuple[str, ...] = ("svg", "png"), width: int = 800
) -> list[Path]:
    """Write every chart of ``report`` as ``NN-name.svg``/``.png`` into ``out_dir``."""
    try:
        import vl_convert
    except ImportError as exc:  # pragma: no cover
        raise ReportError(MISSING_REPORT_EXTRA) from exc
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for number, (chart_id, spec) in enumerate(report.charts.specs.items(), start=1):
        name = _slug(report.charts.names.get(chart_id, chart_id))
        full = _with_schema(fixed_width(spec, width))
        for fmt in formats:
            target = out_dir / f"{number:02d}-{name}.{fmt}"
            if fmt == "svg":
                target.write_text(str(vl_convert.vegalite_to_svg(full)), encoding="utf-8")
            elif fmt == "png":
                target.write_bytes(bytes(vl_convert.vegalite_to_png(full, scale=2)))
            elif fmt == "pdf":
                target.write_bytes(bytes(vl_convert.vegalite_to_pdf(full)))
            else:
                raise ReportError(f"unknown chart format {fmt!r}: use svg, png or pdf")
            written.append(target)
    return written


def chromium_path() -> str:
    found = (
        shutil.which("chromium")
        or shutil.which("chromium-browser")
        or shutil.which("google-chrome")
    )
    if found is None:
        raise ReportError(CHROMIUM_HINT)
    return found


def html_to_pdf(html_path: Path, pdf_path: Path, timeout_s: float = 120.0) -> Path:
    """Print an HTML file to PDF with headless Chromium (A4, the page's print CSS)."""
    browser = chromium_path()
    with tempfile.TemporaryDirectory(prefix="linewatch-chromium-") as profile:
        command = [
            browser,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf_path.resolve()}",
            html_path.resolve().as_uri(),
        ]
        try:
            done = subprocess.run(command, capture_output=True, timeout=timeout_s, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ReportError(f"chromium could not print {html_path}: {exc}") from exc
    if done.returncode != 0 or not pdf_path.exists() or pdf_path.stat().st_size == 0:
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        raise ReportError(
            f"chromium could not print {html_path} (exit {done.returncode}): {tail[0]}"
        )
    return pdf_path


def write_report_file(report: HtmlReport, path: Path, export_dir: Path | None = None) -> Path:
    """Write ``path`` (.html interactive, .pdf printed) and, if asked, the chart files."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".pdf":
        with tempfile.TemporaryDirectory(prefix="linewatch-report-") as folder:
            page = Path(folder) / "report.html"
            page.write_text(report.page(static=True), encoding="utf-8")
            html_to_pdf(page, path)
    else:
        path.write_text(report.page(), encoding="utf-8")
    if export_dir is not None:
        export_charts(report, export_dir)
    return path
