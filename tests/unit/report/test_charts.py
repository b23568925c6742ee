"""The chart builders' specs, checked field by field for small hand-made inputs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import altair as alt
import pytest

from linewatch.pipeline.charts import (
    VEGA_LITE_SCHEMA,
    AlertSpan,
    ChartRow,
    alert_timeline,
    capability_chart,
    control_chart,
    location_and_dispersion,
    pareto_chart,
    trend_chart,
)
from linewatch.pipeline.charts.capability import ppm_expected

T0 = datetime(2026, 11, 2, 6, tzinfo=UTC)


def t(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def rows() -> list[ChartRow]:
    # Phase I (points 1-2, limits v1), a test-1 violation at point 3, new limits (v2) at 4.
    return [
        ChartRow(t(0), 10.0, 10.0, 13.0, 7.0, "C", (), 1, "I", 1),
        ChartRow(t(1), 11.5, 10.0, 13.0, 7.0, "B", (), 1, "I", 2),
        ChartRow(t(2), 14.0, 10.0, 13.0, 7.0, "beyond", ("nelson1",), 1, "II", 3),
        ChartRow(t(3), 9.0, 9.0, 15.0, 3.0, "C", ("nelson5", "nelson6"), 2, "II", 4),
    ]


def marks(spec: dict[str, Any]) -> list[str]:
    return [layer["mark"]["type"] for layer in spec["layer"]]


def valid(spec: dict[str, Any]) -> None:
    """The spec validates against the Vega-Lite schema altair carries."""
    full = {"$schema": VEGA_LITE_SCHEMA, **spec}
    if "vconcat" in spec:
        alt.VConcatChart.from_dict(full)
    else:
        alt.LayerChart.from_dict(full)


def test_control_chart_layers_limits_zones_violations_phase_and_versions() -> None:
    spec = control_chart(rows(), "xbar", y_title="mm", width=400)
    valid(spec)
    assert spec["title"] == "xbar" and spec["width"] == 400
    # phase I band, limits-version rule, limit lines, statistic, violation dots, labels
    assert marks(spec) == ["rect", "rule", "line", "line", "point", "text"]
    phase, version, limits, statistic, dots, labels = spec["layer"]
    assert phase["data"]["values"] == [
        {"start": "2026-11-02T06:00:00+00:00", "end": "2026-11-02T06:01:00+00:00"}
    ]
    assert version["data"]["values"] == [
        {"ts": "2026-11-02T06:03:00+00:00", "version": "limits v2"}
    ]
    assert limits["mark"]["interpolate"] == "step-after"
    assert limits["transform"][0] == {
        "fold": ["ucl", "u2", "u1", "cl", "l1", "l2", "lcl"],
        "as": ["limit", "y"],
    }
    assert statistic["encoding"]["y"]["field"] == "value"
    assert statistic["encoding"]["y"]["title"] == "mm"
    assert statistic["params"][0]["bind"] == "scales"  # zoom and pan on x
    assert statistic["params"][0]["select"]["encodings"] == ["x"]
    assert dots["transform"] == [{"filter": "datum.violations != ''"}]
    assert labels["encoding"]["text"] == {"field": "label"}
    values = spec["data"]["values"]
    assert [(v["n"], v["value"], v["label"]) for v in values] == [
        (1, 10.0, ""),
        (2, 11.5, ""),
        (3, 14.0, "#1 nelson1"),
        (4, 9.0, "#2 nelson5, nelson6"),
    ]
    # Zones: a third and two thirds of the way to each limit, per limits version.
    assert (values[0]["u1"], values[0]["u2"], values[0]["l1"], values[0]["l2"]) == (
        11.0,
        12.0,
        9.0,
        8.0,
    )
    assert (values[3]["u1"], values[3]["u2"], values[3]["l1"], values[3]["l2"]) == (
        11.0,
        13.0,
        7.0,
        5.0,
    )
    assert [v["phase"] for v in values] == ["I", "I", "II", "II"]
    assert [v["limits_version"] for v in values] == [1, 1, 1, 2]


def test_zones_of_an_asymmetric_range_chart_keep_their_own_side() -> None:
    row = ChartRow(t(0), 2.0, 2.0, 5.0, 0.5, number=1)
    value = control_chart([row], "r")["data"]["values"][0]
    assert (value["u1"], value["u2"], value["l1"], value["l2"]) == (3.0, 4.0, 1.5, 1.0)


def test_control_chart_without_limits_or_violations_has_no_empty_layers() -> None:
    spec = control_chart([ChartRow(t(0), 1.0, None, None, None, number=1)], "x")
    assert marks(spec) == ["line", "line"]
    value = spec["data"]["values"][0]
    assert (value["cl"], value["u1"], value["l2"]) == (None, None, None)


def test_xbar_over_its_range_chart_shares_x_and_binds_zoom_once() -> None:
    top, bottom = control_chart(rows(), "xbar"), control_chart(rows(), "range")
    spec = location_and_dispersion(top, bottom, "L3/weld-2/nugget")
    valid(spec)
    assert spec["resolve"] == {"scale": {"x": "shared"}}
    assert [c["title"] for c in spec["vconcat"]] == ["xbar", "range"]
    assert sum("params" in layer for layer in spec["vconcat"][0]["layer"]) == 1
    assert sum("params" in layer for layer in spec["vconcat"][1]["layer"]) == 0


def test_capability_histogram_spec_limits_normal_curves_and_indices() -> None:
    values = [0.5, 1.5, 2.5, 2.6]
    spec = capability_chart(
        values,
        "cap",
        mean=2.0,
        sigma_within=0.5,
        sigma_overall=1.0,
        lsl=0.0,
        usl=4.0,
        target=2.0,
        indices={"cp": {"value": 1.3333, "lower": 0.5, "upper": 2.0}},
        bins=4,
        width=300,
    )
    valid(spec)
    assert marks(spec) == ["bar", "line", "rule", "text"]
    bars, curves, rules, _ = spec["layer"]
    # Range [0, 4] padded by 5% each side: [-0.2, 4.2], bins of 1.1.
    assert [round(b["x0"], 9) for b in bars["data"]["values"]] == [-0.2, 0.9, 2.0, 3.1]
    assert [b["count"] for b in bars["data"]["values"]] == [1, 1, 2, 0]
    assert rules["data"]["values"] == [
        {"x": 0.0, "label": "LSL"},
        {"x": 2.0, "label": "target"},
        {"x": 4.0, "label": "USL"},
    ]
    within = [c for c in curves["data"]["values"] if c["sigma"] == "within"]
    overall = [c for c in curves["data"]["values"] if c["sigma"] == "overall"]
    assert len(within) == len(overall) == 61
    # The within curve peaks at the mean at n * bin width * 1/(sigma sqrt(2 pi)).
    peak = max(within, key=lambda c: c["y"])
    assert peak["x"] == pytest.approx(2.0)
    assert peak["y"] == pytest.approx(4 * 1.1 / (0.5 * (2 * 3.141592653589793) ** 0.5))
    assert spec["title"]["subtitle"][0] == "Cp 1.33 [0.50, 2.00]  (95% CI)"
    below, above = ppm_expected(2.0, 1.0, 0.0, 4.0)
    assert f"overall {below + above:.0f}" in spec["title"]["subtitle"][1]
    assert "PPM observed 0," in spec["title"]["subtitle"][1]


def test_expected_ppm_is_the_normal_tail() -> None:
    below, above = ppm_expected(10.0, 1.0, 7.0, None)
    assert (round(below, 3), above) == (1349.898, 0.0)


def test_pareto_sorts_by_count_and_accumulates() -> None:
    spec = pareto_chart({"spatter": 18, "porosity": 38, "crack": 1, "burr": 18})
    valid(spec)
    assert [(d["code"], d["count"]) for d in spec["data"]["values"]] == [
        ("porosity", 38),
        ("burr", 18),
        ("spatter", 18),
        ("crack", 1),
    ]
    assert [round(d["cumulative"], 4) for d in spec["data"]["values"]] == [
        0.5067,
        0.7467,
        0.9867,
        1.0,
    ]
    assert marks(spec) == ["bar", "line"]
    assert spec["layer"][0]["encoding"]["x"]["sort"] == ["porosity", "burr", "spatter", "crack"]
    assert spec["resolve"] == {"scale": {"y": "independent"}}


def test_alert_timeline_one_lane_per_stream_bars_to_resolved_or_data_end() -> None:
    spans = [
        AlertSpan("weld-2/tip xbar", "nelson1", "critical", t(0), t(30)),
        AlertSpan("final/porosity p", "nelson1", "warning", t(10), None, acknowledged=t(12)),
    ]
    spec = alert_timeline(spans, data_end=t(60))
    valid(spec)
    assert spec["data"]["values"] == [
        {
            "stream": "weld-2/tip xbar",
            "rule": "nelson1",
            "severity": "critical",
            "start": "2026-11-02T06:00:00+00:00",
            "end": "2026-11-02T06:30:00+00:00",
            "status": "resolved",
        },
        {
            "stream": "final/porosity p",
            "rule": "nelson1",
            "severity": "warning",
            "start": "2026-11-02T06:10:00+00:00",
            "end": "2026-11-02T07:00:00+00:00",
            "status": "still firing",
        },
    ]
    bars, acks = spec["layer"]
    assert bars["encoding"]["y"]["sort"] == ["final/porosity p", "weld-2/tip xbar"]
    assert bars["encoding"]["color"]["scale"]["domain"] == ["critical", "warning", "info"]
    assert acks["mark"]["type"] == "tick"
    assert acks["data"]["values"] == [
        {"stream": "final/porosity p", "ts": "2026-11-02T06:12:00+00:00", "rule": "nelson1"}
    ]


def test_trend_line_with_reference() -> None:
    spec = trend_chart([(t(0), 1.2), (t(60), 1.5)], "Cpk", "Cpk", reference=1.33)
    valid(spec)
    line, rule = spec["layer"]
    assert line["data"]["values"] == [
        {"ts": "2026-11-02T06:00:00+00:00", "value": 1.2, "series": "value"},
        {"ts": "2026-11-02T07:00:00+00:00", "value": 1.5, "series": "value"},
    ]
    assert rule["data"]["values"] == [{"y": 1.33}]
