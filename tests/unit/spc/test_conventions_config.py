"""The ``conventions`` key (global and per stream), qcc's run rule preset, rules on R/S/MR."""

import json
from pathlib import Path
from typing import Any

import pytest

from linewatch.detectors.spc import CapabilityChart, XbarRChart
from linewatch.detectors.spc.analyze import analyze
from linewatch.detectors.spc.rules import RuleSet
from linewatch.pipeline.config import ConfigError, parse_config
from linewatch.pipeline.factory import build_capability, build_detector

DATA = json.loads((Path(__file__).parent / "published_data.json").read_text())


def config(streams: list[dict[str, Any]], **top: Any) -> dict[str, Any]:
    station = {"name": "s", "characteristics": streams}
    return {"lines": [{"name": "L", "stations": [station]}], **top}


def xbar(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "chart": "xbar-r", "subgroup_size": 5, **extra}


def test_global_convention_reaches_streams_and_a_stream_overrides_it() -> None:
    cfg = parse_config(
        config(
            [
                xbar("a"),
                xbar("b", conventions="minitab"),
                {"name": "c", "lsl": 1.0, "capability": {}},
            ],
            conventions="qcc",
        )
    )
    a, b, c = cfg.lines[0].stations[0].characteristics
    assert (cfg.conventions, a.conventions, b.conventions, c.conventions) == (
        "qcc",
        "qcc",
        "minitab",
        "qcc",
    )
    chart_a, chart_b = build_detector(a), build_detector(b)
    assert isinstance(chart_a, XbarRChart) and isinstance(chart_b, XbarRChart)
    assert (chart_a.convention, chart_a.constants) == ("qcc", "qcc")
    assert (chart_b.convention, chart_b.constants) == ("minitab", "table")
    rolling = build_capability(c)
    assert isinstance(rolling, CapabilityChart) and rolling.convention == "qcc"


def test_default_is_minitab_with_todays_numbers() -> None:
    cfg = parse_config(config([xbar("a")]))
    spec = cfg.lines[0].stations[0].characteristics[0]
    assert cfg.conventions == "minitab" and spec.conventions is None
    chart = build_detector(spec)
    assert isinstance(chart, XbarRChart)
    assert (chart.convention, chart.constants, chart.sigma_method) == ("minitab", "table", None)


def test_new_sigma_names_are_valid_config() -> None:
    for method in ("uwave-r", "uwave-sd", "mvlue-r", "mvlue-sd", "rmsdf", "rbar"):
        cfg = parse_config(config([xbar("a", sigma=method)]))
        assert cfg.lines[0].stations[0].characteristics[0].sigma == method
    imr = parse_config(config([{"name": "i", "sigma": "sd"}]))
    assert imr.lines[0].stations[0].characteristics[0].sigma == "sd"


def test_bad_conventions_name_the_yaml_path() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(config([xbar("a", conventions="jmp")]))
    assert info.value.problems == [
        "lines[0].stations[0].characteristics[0].conventions: "
        "Input should be 'minitab' or 'qcc' (got 'jmp')"
    ]
    with pytest.raises(ConfigError) as top:
        parse_config(config([xbar("a")], conventions="R"))
    assert top.value.problems == ["conventions: Input should be 'minitab' or 'qcc' (got 'R')"]


def test_qcc_rules_preset_flags_the_seventh_point_in_a_row() -> None:
    assert RuleSet.parse("qcc") == RuleSet(tests=(1, 2), k={2: 7})
    cfg = parse_config(config([xbar("a", rules="qcc")]))
    assert cfg.lines[0].stations[0].characteristics[0].rules == "qcc"
    values = [10.0, 9.0] + [10.5] * 8
    result = analyze("imr", values, center=10.0, known_sigma=1.0, rules="qcc")
    # indices 2..9 are above 10: the 7th of them (index 8) completes the run, 9 goes on
    assert result.charts["individuals"].violations == {"nelson2": [8, 9]}
    nelson = analyze("imr", values, center=10.0, known_sigma=1.0, rules="nelson")
    assert "nelson2" not in nelson.charts["individuals"].violations  # Minitab's K = 9


def test_rules_on_dispersion_charts_when_asked() -> None:
    # ranges: 7 small subgroups in a row, then wide ones (the R chart runs below its center)
    groups = [[0.0, 1.0]] * 7 + [[0.0, 3.0]] * 7
    plain = analyze("xbar-r", groups, rules="qcc")
    assert plain.charts["range"].violations == {}
    asked = analyze("xbar-r", groups, rules="qcc", rules_on_dispersion=True)
    assert asked.charts["range"].violations == {"nelson2": [6, 13]}
    assert asked.charts["xbar"].violations == plain.charts["xbar"].violations
