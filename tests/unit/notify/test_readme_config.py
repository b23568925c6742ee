"""The README's notifications example is a valid config (it is what users copy)."""

from __future__ import annotations

from pathlib import Path

import yaml

from linewatch.pipeline.notify.config import NotificationsConfig, WeComReceiverConfig

README = Path(__file__).resolve().parents[3] / "README.md"


def test_the_readme_example_validates() -> None:
    section = README.read_text().split("## Notifications\n", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    config = NotificationsConfig.model_validate(yaml.safe_load(example)["notifications"])
    assert [r.name for r in config.receivers] == ["quality", "lead-a", "lead-b", "plant-am"]
    assert isinstance(config.receivers[1], WeComReceiverConfig)
    assert config.receivers[1].language == "zh-CN"
    assert config.route.group_interval == 1800.0 and config.route.routes[0].continue_
    assert config.shifts is not None and [s.lead for s in config.shifts.shifts] == [
        "lead-a",
        "lead-b",
    ]
