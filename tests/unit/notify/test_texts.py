"""Alert texts: every rule in plain words in both languages, overridable templates."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest

from linewatch.connectors.receivers.text import Texts
from linewatch.detectors.spc.rules import RuleSet

from .alerts import alert

#: Every rule name the pipeline's alerts can carry (detectors' limit rules and Nelson's).
PIPELINE_RULES = [f"nelson{t}" for t in range(1, 9)] + [
    "cusum_upper",
    "cusum_lower",
    "ewma",
    "t2",
    "capability",
    "station_down",
    "model",
]


def with_rule(rule: str, description: str = "") -> object:
    return alert("f", rule=rule, message=f"nugget_dia_mm individuals: {description}")


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_every_rule_has_plain_words(language: str) -> None:
    texts = Texts(language)
    assert sorted(texts.strings["rules"]) == sorted(PIPELINE_RULES)
    for rule in PIPELINE_RULES:
        words = texts.rule_text(with_rule(rule))  # type: ignore[arg-type]
        assert words and "{" not in words


@pytest.mark.parametrize(
    ("test", "k", "en", "zh"),
    [
        (1, 3.0, "1 point more than 3 sigma from the center line", "1 点距中心线超过 3 倍标准差"),
        (
            1,
            2.5,
            "1 point more than 2.5 sigma from the center line",
            "1 点距中心线超过 2.5 倍标准差",
        ),
        (2, 7, "7 points in a row on one side of the center line", "连续 7 点位于中心线同一侧"),
        (3, 6, "7 points in a row steadily increasing or decreasing", "连续 7 点持续上升或下降"),
        (4, 14, "15 points in a row alternating up and down", "连续 15 点上下交替"),
        (
            5,
            2,
            "2 out of 3 points more than 2 sigma from the center line on one side",
            "连续 3 点中有 2 点距中心线超过 2 倍标准差（同一侧）",
        ),
        (
            6,
            4,
            "4 out of 5 points more than 1 sigma from the center line on one side",
            "连续 5 点中有 4 点距中心线超过 1 倍标准差（同一侧）",
        ),
        (
            7,
            15,
            "15 points in a row within 1 sigma of the center line",
            "连续 15 点位于中心线 1 倍标准差以内",
        ),
        (
            8,
            8,
            "8 points in a row more than 1 sigma from the center line, either side",
            "连续 8 点距中心线超过 1 倍标准差（两侧均可）",
        ),
    ],
)
def test_k_is_read_from_the_detectors_own_description(
    test: int, k: float, en: str, zh: str
) -> None:
    description = RuleSet(tests=(test,), k={test: k}).describe(test)
    a = with_rule(f"nelson{test}", description)
    assert Texts("en").rule_text(a) == en  # type: ignore[arg-type]
    assert Texts("zh-CN").rule_text(a) == zh  # type: ignore[arg-type]


def test_time_is_shown_in_the_plants_zone() -> None:
    a = alert("f")
    assert Texts("en", "America/Chicago").alert_values(a)["time"] == "2026-11-23 02:00:00 CST"
    assert Texts("zh-CN", "Asia/Shanghai").alert_values(a)["time"] == "2026-11-23 16:00:00 CST"


def test_a_folder_overrides_single_templates(tmp_path: Path) -> None:
    (tmp_path / "alert.txt").write_text("$line/$station: $rule_text = $value\n", encoding="utf-8")
    texts = Texts("zh-CN", "UTC", tmp_path)
    assert texts.alert_line(alert("f")) == "L3/weld-2: 连续 7 点位于中心线同一侧 = 5.61"
    resolved = msgspec.structs.replace(alert("f"), status="resolved")
    assert texts.strings["status"][resolved.status] == "已恢复"  # the rest still shipped


def test_bad_template_and_language_are_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "alert.txt").write_text("$line $no_such_field", encoding="utf-8")
    with pytest.raises(
        ValueError,
        match=re.escape("template alert.txt: unknown or bad placeholder 'no_such_field'"),
    ):
        Texts("en", "UTC", tmp_path).alert_line(alert("f"))
    with pytest.raises(ValueError, match="language 'fr' is not one of en, zh-CN"):
        Texts("fr")
