"""The HTML report in a real headless Chromium: every chart drawn, none missing, no errors.

Chromium and its driver are Debian packages (``make servers-install`` installs them); a
browser download is not possible here. The screenshots land in ``out/test-artifacts/``.
"""

from __future__ import annotations

import gzip
import itertools
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from linewatch.pipeline.config import CharacteristicConfig, load_config
from linewatch.pipeline.job import Job, build_job
from linewatch.pipeline.report_export import CHROMIUM_FLAGS

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "out" / "test-artifacts"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
INSTALL_HINT = (
    "headless Chromium is missing: apt-get install chromium chromium-driver "
    "(or make servers-install)"
)
RECORDS = 15_000


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Job, Path]:
    folder = tmp_path_factory.mktemp("browser")
    records = folder / "slice.jsonl"
    with gzip.open(ROOT / "examples" / "welding-line.jsonl.gz", "rt") as src:
        records.write_text("".join(itertools.islice(src, RECORDS)))
    config = load_config(ROOT / "examples" / "welding-line.yaml")
    report = folder / "report.html"
    job = build_job(config, mode="replay", input_path=records, out_dir=folder, report_path=report)
    job.run()
    job.finish()
    return job, report


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail(INSTALL_HINT)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, "--window-size=1280,1800"):
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def expected_charts(job: Job) -> int:
    """Counted from the config and the engine, not from the report."""
    streams = sum(1 for s in job.engine.stream_stats if s.points > 0)  # X̄ + R/S is one chart
    characteristics = [
        (line.name, station.name, c)
        for line in job.config.lines
        for station in line.stations
        for c in station.characteristics
        if isinstance(c, CharacteristicConfig)
    ]
    measured = {s.identity.characteristic for s in job.engine.stream_stats if s.observations}
    histograms = sum(
        1
        for _, _, c in characteristics
        if (c.lsl is not None or c.usl is not None) and c.name in measured
    )
    rolling_cpk = sum(
        1
        for _, _, c in characteristics
        if c.capability is not None
        # a capability window counts values; a subgroup chart's observations are subgroups
        and next(
            s for s in job.engine.stream_stats if s.identity.characteristic == c.name
        ).observations
        * c.subgroup_size
        >= c.capability.window
    )
    inspecting = 1  # the demo inspects at `final`: first-pass yield and defect-rate trends
    pareto = 1 if job.engine.defect_codes else 0
    timeline = 1 if any(a.status == "firing" for a in job.runner.summary.alerts) else 0
    return streams + histograms + rolling_cpk + 2 * inspecting + pareto + timeline


def wait_for_charts(driver: webdriver.Chrome, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not driver.execute_script("return document.body.dataset.chartsReady === '1'"):
        if time.monotonic() > deadline:
            pytest.fail(f"the charts did not finish rendering within {timeout_s:g} s")
        time.sleep(0.25)


def test_every_chart_renders_in_headless_chromium(
    replayed: tuple[Job, Path], browser: webdriver.Chrome
) -> None:
    job, report = replayed
    browser.get(report.as_uri())
    wait_for_charts(browser)
    drawn: list[dict[str, Any]] = browser.execute_script(
        """return Array.from(document.querySelectorAll('div.chart')).map(function (el) {
             var svg = el.querySelector('svg'), canvas = el.querySelector('canvas');
             var box = (svg || canvas) ? (svg || canvas).getBoundingClientRect() : {width: 0, height: 0};
             return {id: el.id, name: el.dataset.name, marks: svg ? svg.querySelectorAll('path, rect, line, circle, text').length : 0,
                     canvas: !!canvas, width: box.width, height: box.height};
           });"""
    )
    assert len(drawn) == expected_charts(job) == 16
    for chart in drawn:
        assert chart["marks"] > 10 or chart["canvas"], f"{chart['name']} drew nothing"
        assert chart["width"] > 200 and chart["height"] > 50, f"{chart['name']} is empty"
    log: list[dict[str, Any]] = browser.get_log("browser")  # type: ignore[no-untyped-call]
    errors = [entry for entry in log if entry["level"] == "SEVERE"]
    assert errors == []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "report-summary.png"))
    browser.execute_script("document.getElementById('control').scrollIntoView()")
    assert browser.save_screenshot(str(ARTIFACTS / "report-control-charts.png"))
    browser.execute_script("document.getElementById('capability').scrollIntoView()")
    assert browser.save_screenshot(str(ARTIFACTS / "report-capability.png"))


def test_tooltips_show_a_points_values(
    replayed: tuple[Job, Path], browser: webdriver.Chrome
) -> None:
    _, report = replayed
    browser.get(report.as_uri())
    wait_for_charts(browser)
    # Hover the first plotted point of the first control chart: vega's tooltip handler
    # fills #vg-tooltip-element with the point's fields.
    shown = browser.execute_script(
        """var el = document.querySelector('section#control div.chart .mark-symbol path, section#control div.chart path.mark-symbol')
                 || document.querySelector('section#control div.chart g.mark-line path');
           var box = el.getBoundingClientRect();
           el.dispatchEvent(new MouseEvent('pointermove', {bubbles: true, clientX: box.x + 1, clientY: box.y + 1}));
           el.dispatchEvent(new MouseEvent('mousemove', {bubbles: true, clientX: box.x + 1, clientY: box.y + 1}));
           var tip = document.getElementById('vg-tooltip-element');
           return tip ? tip.textContent : '';"""
    )
    assert "limits version" in shown and "UCL" in shown


def test_the_pdf_prints_through_headless_chromium(
    replayed: tuple[Job, Path], tmp_path: Path
) -> None:
    job, _ = replayed
    if shutil.which("chromium") is None:
        pytest.fail(INSTALL_HINT)
    from linewatch.pipeline.report_export import write_report_file
    from linewatch.pipeline.report_html import build_html_report

    assert job.charts is not None
    report = build_html_report(job.runner.summary, job.engine.stream_stats, job.charts)
    pdf = write_report_file(report, tmp_path / "report.pdf")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    pages = data.count(b"/Type /Page") - data.count(b"/Type /Pages")
    assert pages >= 5  # one section a page at least
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(pdf, ARTIFACTS / "report.pdf")
