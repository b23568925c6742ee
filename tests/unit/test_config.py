"""Config validation: every bad key is named by its YAML path and file line."""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import timedelta
from pathlib import Path
from typing import Any

import annotated_types
import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from linewatch.pipeline import config as config_module
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
        "Input should be 'imr', 'xbar-r', 'xbar-s', 'p', 'np', 'c', 'u', 'laney-p', 'laney-u', 'cusum', 'ewma', 'zmr', 'g', 't' or 'ar1' (got 'imrr')"
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


# -- duplicate keys, encodings, YAML syntax (issue 8, finding 7) --------------------------


def test_a_duplicate_key_is_named_by_path_and_both_lines(tmp_path: Path) -> None:
    text = GOOD.replace("            usl: 5.8\n", "            usl: 5.8\n            lsl: 5.1\n")
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    assert caught.value.problems == [
        "lines[0].stations[0].characteristics[0].lsl (plant.yaml lines 8 and 10): "
        "duplicate key 'lsl'"
    ]


def test_merge_keys_and_aliases_are_not_duplicates(tmp_path: Path) -> None:
    text = (
        GOOD.replace("            chart: imr\n", "            <<: &common {chart: imr}\n")
        + "lateness: &late {allowed_lateness_s: 60}\n"
    )
    config = load_config(write(tmp_path, text))
    assert config.lines[0].stations[0].characteristics[0].chart == "imr"
    assert config.lateness.allowed_lateness_s == 60.0


def test_duplicates_are_reported_with_the_validation_errors(tmp_path: Path) -> None:
    text = GOOD.replace("chart: imr", "chart: imr\n            chart: xbar").replace(
        "  path: line.jsonl\n", "  path: line.jsonl\n  path: other.jsonl\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    assert caught.value.problems == [
        "lines[0].stations[0].characteristics[0].chart (plant.yaml lines 7 and 8): "
        "duplicate key 'chart'",
        "source.path (plant.yaml lines 17 and 18): duplicate key 'path'",
        "lines[0].stations[0].characteristics[0].chart (plant.yaml line 8): Input should be "
        "'imr', 'xbar-r', 'xbar-s', 'p', 'np', 'c', 'u', 'laney-p', 'laney-u', 'cusum', "
        "'ewma', 'zmr', 'g', 't' or 'ar1' (got 'xbar')",
    ]


def test_a_latin1_file_names_file_line_column_and_offset(tmp_path: Path) -> None:
    path = tmp_path / "plant.yaml"
    path.write_bytes(GOOD.replace("welder-07", "soudeuse-\xe9").encode("latin-1"))
    offset = GOOD.index("welder-07") + len("soudeuse-")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    # line 12 is "          - equipment: soudeuse-\xe9"; the byte is its 33rd
    assert caught.value.problems == [
        f"{path} line 12 column 33: not UTF-8: byte 0xe9 at offset {offset}; save the file as UTF-8"
    ]


def test_a_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "plant.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.replace("L3", "Zürich").encode())
    assert load_config(path).lines[0].name == "Zürich"


def test_a_yaml_syntax_error_names_the_file_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("  type: file\n", "  type: file\n  oops\n"))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == [
        f"{path} line 17 column 3: not valid YAML: could not find expected ':' "
        f"(while scanning a simple key, {path} line 16 column 3)"
    ]


# -- ranges --------------------------------------------------------------------------------


def _unbounded(annotation: Any, metadata: list[Any]) -> list[str]:
    """The int/float parts of an annotation that lack a lower or an upper bound."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *extra = typing.get_args(annotation)
        more = [m for e in extra for m in (e.metadata if isinstance(e, FieldInfo) else [e])]
        return _unbounded(base, [*metadata, *more])
    if origin in (typing.Union, types.UnionType):
        return [u for arg in typing.get_args(annotation) for u in _unbounded(arg, metadata)]
    if origin in (list, dict):
        return [u for arg in typing.get_args(annotation) for u in _unbounded(arg, [])]
    if annotation in (int, float):
        lower = any(isinstance(m, (annotated_types.Ge, annotated_types.Gt)) for m in metadata)
        upper = any(isinstance(m, (annotated_types.Le, annotated_types.Lt)) for m in metadata)
        return [] if lower and upper else [annotation.__name__]
    return []


def _models(base: type[BaseModel]) -> list[type[BaseModel]]:
    found = []
    for sub in base.__subclasses__():
        found += [sub, *_models(sub)]
    return found


def _dataclasses_in(annotation: Any, found: dict[str, type]) -> None:
    """The dataclasses an annotation holds (the simulator's specs), and those they hold."""
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        if annotation.__qualname__ not in found:
            found[annotation.__qualname__] = annotation
            for hint in typing.get_type_hints(annotation, include_extras=True).values():
                _dataclasses_in(hint, found)
        return
    for arg in typing.get_args(annotation):
        _dataclasses_in(arg, found)


def test_every_number_of_every_config_model_has_both_bounds() -> None:
    models = _models(config_module._Strict)
    assert config_module.Config in models and config_module.StationConfig in models
    unbounded = [
        f"{model.__name__}.{name}: {kind}"
        for model in models
        for name, field in model.model_fields.items()
        for kind in _unbounded(field.annotation, list(field.metadata))
    ]
    assert unbounded == []
    # the simulation section validates into the simulator's dataclasses: their numbers too
    specs: dict[str, type] = {}
    for model in models:
        for field in model.model_fields.values():
            _dataclasses_in(field.annotation, specs)
    assert {"Simulation", "StationSim", "CharacteristicSim", "DefectSim", "FaultSim"} <= set(specs)
    unbounded = [
        f"{spec.__name__}.{name}: {kind}"
        for spec in specs.values()
        for name, hint in typing.get_type_hints(spec, include_extras=True).items()
        if not name.startswith("__")
        for kind in _unbounded(hint, [])
    ]
    assert unbounded == []


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        (
            "lateness: {allowed_lateness_s: 1.0e+15}",
            "lateness.allowed_lateness_s (plant.yaml line 20): "
            "Input should be less than or equal to 31622400 (got 1000000000000000.0)",
        ),
        (
            "lateness: {allowed_lateness_s: .inf}",
            "lateness.allowed_lateness_s (plant.yaml line 20): "
            "Input should be a finite number (got inf)",
        ),
        (
            "lateness: {allowed_lateness_s: .nan}",
            "lateness.allowed_lateness_s (plant.yaml line 20): "
            "Input should be a finite number (got nan)",
        ),
        (
            "checkpoint: {every_seconds: 0.0001}",
            "checkpoint.every_seconds (plant.yaml line 20): "
            "Input should be greater than or equal to 0.001 (got 0.0001)",
        ),
        (
            "alerting: {resolve_after_points: 10000000}",
            "alerting.resolve_after_points (plant.yaml line 20): "
            "Input should be less than or equal to 1000000 (got 10000000)",
        ),
    ],
)
def test_numbers_out_of_range_are_refused(tmp_path: Path, section: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, GOOD + section + "\n"))
    assert caught.value.problems == [problem]


def test_the_largest_accepted_durations_fit_a_timedelta(tmp_path: Path) -> None:
    text = GOOD.replace(
        "      - name: weld-2\n", "      - name: weld-2\n        kpi_window_s: 31622400\n"
    )
    config = load_config(write(tmp_path, text + "lateness: {allowed_lateness_s: 31622400}\n"))
    assert timedelta(seconds=config.lateness.allowed_lateness_s) == timedelta(days=366)
    assert config.lines[0].stations[0].kpi_window_s == 366 * 86400


def test_a_limit_beyond_1e15_is_refused_as_a_spec_limit() -> None:
    data = {
        "lines": [
            {
                "name": "L",
                "stations": [{"name": "s", "characteristics": [{"name": "d", "usl": 1e200}]}],
            }
        ]
    }
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    assert caught.value.problems == [
        "lines[0].stations[0].characteristics[0].usl: "
        "Input should be less than or equal to 1000000000000000 (got 1e+200)"
    ]


# -- one pass ------------------------------------------------------------------------------


def test_cross_field_checks_run_beside_field_errors() -> None:
    data = {
        "lines": [
            {
                "name": "L",
                "stations": [
                    {
                        "name": "s",
                        "kpi_window_s": -1,
                        "characteristics": [
                            {"name": "d", "lsl": 6.0, "usl": 5.0, "chart": "imr", "k_sigma": 0},
                            {"name": "d", "chart": "xbar-r"},
                        ],
                        "parameters": [{"equipment": "w", "name": "t", "rules": "nelsen"}],
                    },
                    {"name": "s"},
                ],
            },
            {"name": "L", "stations": []},
        ],
        "source": {"type": "simulator", "minutes": 0},
    }
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    assert caught.value.problems == [
        "lines[0].stations[0].characteristics[0].k_sigma: Input should be greater than 0 (got 0)",
        "lines[0].stations[0].characteristics[0]: Value error, lsl (6.0) must be below usl (5.0)",
        "lines[0].stations[0].characteristics[1]: "
        "Value error, chart 'xbar-r' needs subgroup_size of at least 2",
        "lines[0].stations[0].parameters[0].rules: expected nelson, western_electric (we), "
        "test1, none, or tests like '1,2,5,6' optionally followed by ';2=8,1=2.5' "
        "(got 'nelsen')",
        "lines[0].stations[0].kpi_window_s: Input should be greater than or equal to 1 (got -1)",
        "lines[0].stations[0]: Value error, duplicate characteristic 'd'",
        "lines[0]: Value error, duplicate station 's'",
        "source.minutes: Input should be greater than 0 (got 0)",
        # the source is itself bad, so "simulator needs a simulation section" waits for it
        "(top level): Value error, duplicate line 'L'",
    ]


def test_load_config_with_the_chart_check_reports_refused_settings_with_the_rest(
    tmp_path: Path,
) -> None:
    from linewatch.pipeline.cli_common import check_stream as _check_stream

    text = GOOD.replace(
        "        parameters:\n",
        "          - name: defects\n            chart: p\n            limits: {center: 1.5}\n"
        "        parameters:\n",
    ).replace("lines:\n", "lines:\n  - name: L3\n    stations: []\n", 1)
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), check_streams=_check_stream)
    assert caught.value.problems == [
        "(top level) (plant.yaml line 1): Value error, duplicate line 'L3'",
        "lines[1].stations[0].characteristics[1] (plant.yaml line 13): center proportion is "
        "1.5: limits need 0 < p-bar < 1 (phase I had no nonconforming items, or only "
        "nonconforming ones)",
    ]
