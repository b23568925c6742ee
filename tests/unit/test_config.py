"""Config validation: every bad key is named by its YAML path and file line."""

from __future__ import annotations

from pathlib import Path

import pytest

from linewatch.pipeline.cli import main
from linewatch.pipeline.config import ConfigError, load_config, parse_config

GOOD = """\
lines:
  - name: L3
    stations:
      - name: weld-2
        characteristics:
          - name: nugget_dia_mm
            chart: imr
            lsl: 5.0
            usl: 5.8
            target: 5.4
        parameters:
          - equipment: welder-07
            name: tip_temp_c
source:
  type: file
  path: line.jsonl
sinks:
  - type: jsonl
    path: alerts.jsonl
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plant.yaml"
    path.write_text(text)
    return path


def test_good_config_loads_and_resolves_input_relative_to_the_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.lines[0].stations[0].characteristics[0].usl == 5.8
    assert config.source is not None and config.source.type == "file"
    assert config.source.path == tmp_path / "line.jsonl"


def test_misspelled_chart_names_the_path_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("chart: imr", "chart: imrr"))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == [
        "lines[0].stations[0].characteristics[0].chart (plant.yaml line 7): "
        "Input should be 'imr', 'xbar-r', 'xbar-s', 'p', 'np', 'c', 'u', 'laney-p', 'laney-u', 'cusum', 'ewma' or 'zmr' (got 'imrr')"
    ]


def test_unknown_key_and_missing_key_are_both_reported(tmp_path: Path) -> None:
    text = GOOD.replace("  path: line.jsonl\n", "  pth: line.jsonl\n")
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    assert caught.value.problems == [
        "source.path (plant.yaml line 15): Field required",
        "source.pth (plant.yaml line 16): Extra inputs are not permitted (got 'line.jsonl')",
    ]


def test_spec_limits_must_be_ordered() -> None:
    data = {
        "lines": [
            {
                "name": "L",
                "stations": [
                    {"name": "s", "characteristics": [{"name": "d", "lsl": 6.0, "usl": 5.0}]}
                ],
            }
        ]
    }
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    assert caught.value.problems == [
        "lines[0].stations[0].characteristics[0]: Value error, lsl (6.0) must be below usl (5.0)"
    ]


def test_duplicate_station_is_refused() -> None:
    data = {"lines": [{"name": "L", "stations": [{"name": "s"}, {"name": "s"}]}]}
    with pytest.raises(ConfigError, match="duplicate station 's'"):
        parse_config(data)


def test_not_yaml_and_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "lines: [\n"))
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(write(tmp_path, "- 1\n"))


def test_check_config_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, GOOD)
    assert main(["check-config", str(good)]) == 0
    assert "OK:" in capsys.readouterr().out
    bad = write(tmp_path, GOOD.replace("chart: imr", "chart: xbar-rr"))
    assert main(["check-config", str(bad)]) == 2
    assert "lines[0].stations[0].characteristics[0].chart" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["welding-line.yaml", "compose/plant.yaml"])
def test_example_configs_are_valid(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFLUXDB_PASSWORD", "secret")
    config = load_config(Path(__file__).resolve().parents[2] / "examples" / name)
    assert config.lines[0].name == "L3"


def test_environment_variables_fill_secrets_and_a_missing_one_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = GOOD + "alerting: {default_severity: '${SEVERITY:-info}'}\n"
    text = text.replace("path: alerts.jsonl", "path: '${OUT_DIR}/alerts.jsonl'")
    monkeypatch.setenv("OUT_DIR", "/var/out")
    config = load_config(write(tmp_path, text))
    assert str(config.sinks[0].path) == "/var/out/alerts.jsonl"
    assert config.alerting.default_severity == "info"
    monkeypatch.delenv("OUT_DIR")
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    assert caught.value.problems == [
        "sinks[0].path (plant.yaml): environment variable OUT_DIR is not set"
    ]


def test_a_setting_the_chart_refuses_fails_at_start_naming_its_path() -> None:
    from linewatch.pipeline.engine import Engine

    data = {
        "lines": [
            {
                "name": "L",
                "stations": [
                    {
                        "name": "s",
                        "characteristics": [
                            {"name": "ok", "chart": "imr"},
                            {"name": "defective", "chart": "p", "limits": {"center": 1.5}},
                        ],
                    }
                ],
            }
        ]
    }
    with pytest.raises(ConfigError) as caught:
        Engine(parse_config(data))
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith("lines[0].stations[0].characteristics[1]: ")
    assert "1.5" in caught.value.problems[0]
