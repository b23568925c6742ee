"""The report shows detection delay in event and processing time, and people's notes."""

from __future__ import annotations

from datetime import timedelta

from linewatch.pipeline.models import AlertAnnotation
from linewatch.pipeline.report import FaultWindow, render_report
from linewatch.pipeline.runner import RunSummary
from tests.unit.notify.alerts import T0, alert


def test_detection_delays_and_annotations_in_the_report() -> None:
    # The signal's point is 6 min after the fault began (event time); the pipeline emitted
    # it 45 min after (a phase I held it back, say).
    fired = alert("f1", at=T0 + timedelta(minutes=6), emitted_at=T0 + timedelta(minutes=45))
    other = alert("f2", station="trim", at=T0 + timedelta(hours=3))
    summary = RunSummary(alerts=[fired, other])
    fault = FaultWindow("tip wear", "drift", "weld-2/nugget_dia_mm", T0, T0 + timedelta(hours=1))
    note = AlertAnnotation(
        ts=T0 + timedelta(minutes=50),
        line="L3",
        station="weld-2",
        characteristic="nugget_dia_mm",
        rule="nelson2",
        alert_id=fired.alert_id,
        fingerprint="f1",
        kind="cause",
        author="li",
        cause="machine (equipment, tooling)",
        action="tip dressed",
    )
    text = render_report(summary, [], faults=[fault], annotations=[note])
    assert (
        "| tip wear | drift | weld-2/nugget_dia_mm | 2026-11-23 08:00:00 → 2026-11-23 09:00:00 "
        "| yes | nelson2 2026-11-23 08:06:00 | 6.0 min | 45.0 min |"
    ) in text
    section = text.split("## Acknowledgements and causes\n\n", 1)[1].split("\n\n")[0]
    assert section.splitlines()[2:] == [
        "| 2026-11-23 08:50:00 | L3/weld-2 | nugget_dia_mm | nelson2 | cause | li "
        "| machine (equipment, tooling) | tip dressed | – |"
    ]
    # Notes on alerts of other runs are not this report's.
    assert "## Acknowledgements" not in render_report(
        RunSummary(alerts=[other]), [], annotations=[note]
    )
