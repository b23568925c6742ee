"""The registries: a chart or a sink added by nothing but a registry entry and its class.

The toy chart below is registered in this test only; it then passes config validation,
``analyze`` (function and CLI), the engine and the generic detector checks, with no other
file knowing it. The toy sink likewise gets the outputs of a config ``type: toy``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal

import pytest
from pydantic import Field

from linewatch.connectors.memory import IterableSource, ListSink
from linewatch.detectors.base import Observation, finite
from linewatch.detectors.checks import check_detector
from linewatch.detectors.registry import (
    chart_info,
    chart_names,
    register_chart,
    unregister_chart,
)
from linewatch.detectors.spc import analyze
from linewatch.detectors.spc.chart import PhaseIChart, Stat
from linewatch.pipeline.cli import main
from linewatch.pipeline.config import ConfigError, parse_config
from linewatch.pipeline.engine import Engine
from linewatch.pipeline.job import build_job
from linewatch.pipeline.models import Alert, ChartPoint, Measurement
from linewatch.pipeline.plugins import _SINKS, SinkContext, register_sink
from linewatch.pipeline.runner import Route, Runner, UnknownOutput
from linewatch.pipeline.strict import Strict

T0 = datetime(2026, 11, 23, 6, tzinfo=UTC)


class ToyChart(PhaseIChart):
    """Mean ± k sample SDs of the phase-I values; test 1 only."""

    charts: ClassVar[tuple[str, ...]] = ("toy",)

    def __init__(self, phase1: int = 5, k_sigma: float = 3.0) -> None:
        self.phase1 = phase1
        self.k_sigma = k_sigma
        self._init_state()

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        return [{"phase1": 10}, {"phase1": 20, "k_sigma": 2.0}]

    def _check(self, x: Observation) -> float:
        return finite(x)  # type: ignore[arg-type]

    def _estimate(self, observations: Sequence[Any], keep: Sequence[bool]) -> dict[str, Any]:
        values = [x for x, k in zip(observations, keep, strict=True) if k]
        mean = math.fsum(values) / len(values)
        sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))
        return {"mean": mean, "sigma": sd}

    def _stats(self, obs: Any, params: dict[str, Any], carry: dict[str, Any]) -> tuple[Stat, ...]:
        mean, sd, k = params["mean"], params["sigma"], self.k_sigma
        return (Stat("toy", obs, mean, sd, mean - k * sd, mean + k * sd),)


@pytest.fixture
def toy_chart() -> Iterator[None]:
    register_chart(
        "toy", ToyChart, kind="variables", takes="value", description="a chart for tests"
    )
    yield
    unregister_chart("toy")


def _config(chart: str, **extra: Any) -> dict[str, Any]:
    characteristic = {"name": "d", "chart": chart, "phase1": 5, **extra}
    return {
        "lines": [{"name": "L", "stations": [{"name": "s", "characteristics": [characteristic]}]}]
    }


def _measurements(values: Sequence[float]) -> list[Measurement]:
    return [
        Measurement(
            ts=T0 + timedelta(minutes=i), line="L", station="s", characteristic="d", value=v
        )
        for i, v in enumerate(values)
    ]


# 1, 2, 3, 4, 5: mean 3, sample SD sqrt(2.5) = 1.58114, UCL 3 + 3 * 1.58114 = 7.74342
VALUES = [1.0, 2.0, 3.0, 4.0, 5.0, 3.5, 9.0]


def test_a_toy_chart_passes_config_validation(toy_chart: None) -> None:
    assert "toy" in chart_names("characteristics")
    assert "toy" in chart_names("parameters")
    config = parse_config(_config("toy"))
    assert config.lines[0].stations[0].characteristics[0].chart == "toy"
    with pytest.raises(ConfigError) as caught:
        parse_config(_config("toyy"))
    assert caught.value.problems[0].endswith("'ewma', 'zmr', 'g', 't', 'ar1' or 'toy' (got 'toyy')")


def test_a_toy_chart_is_analyzed(toy_chart: None, tmp_path: Path, capsys: Any) -> None:
    result = analyze("toy", VALUES, phase1=5)
    series = result.charts["toy"]
    assert series.center[0] == 3.0
    assert series.ucl[0] == pytest.approx(3.0 + 3.0 * math.sqrt(2.5), abs=1e-12)
    assert series.violations == {"nelson1": [6]}  # 9 > 7.743
    data = tmp_path / "toy.csv"
    data.write_text("\n".join(str(v) for v in VALUES) + "\n")
    assert main(["analyze", "--chart", "toy", "--input", str(data), "--phase1", "5", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["charts"]["toy"]["violations"] == {"nelson1": [6]}


def test_a_toy_chart_runs_in_the_engine(toy_chart: None) -> None:
    engine = Engine(parse_config(_config("toy")))
    outputs = [o for m in _measurements(VALUES) for o in engine.process(m)]
    points = [o for o in outputs if isinstance(o, ChartPoint)]
    assert [(p.value, p.cl) for p in points] == [(v, 3.0) for v in VALUES]
    assert points[-1].ucl == pytest.approx(7.74342, abs=1e-5)
    alerts = [o for o in outputs if isinstance(o, Alert)]
    assert [(a.rule, a.value, a.status) for a in alerts] == [("nelson1", 9.0, "firing")]


def test_a_toy_chart_passes_the_generic_checks(toy_chart: None) -> None:
    check_detector(ToyChart)
    assert chart_info("toy").cls is ToyChart


class ToySinkConfig(Strict):
    type: Literal["toy"]
    outputs: list[str] = Field(default_factory=lambda: ["alerts"])
    label: str = ""


TOY_SINKS: list[ListSink] = []


def _toy_sink(config: ToySinkConfig, context: SinkContext) -> ListSink:
    sink = ListSink()
    TOY_SINKS.append(sink)
    return sink


@pytest.fixture
def toy_sink() -> Iterator[None]:
    register_sink("toy", ToySinkConfig, _toy_sink)
    TOY_SINKS.clear()
    yield
    del _SINKS["toy"]


def test_a_toy_sink_gets_the_outputs_its_config_selects(toy_sink: None, tmp_path: Path) -> None:
    data = _config("imr")
    data["sinks"] = [{"type": "toy", "outputs": ["alerts", "points"], "label": "x"}]
    data["dead_letters"] = {"path": str(tmp_path / "dead.jsonl")}
    config = parse_config(data)
    assert isinstance(config.sinks[0], ToySinkConfig)
    job = build_job(config, mode="replay", source=IterableSource(_measurements(VALUES)))
    job.run()
    job.finish()
    (sink,) = TOY_SINKS
    kinds = [type(item).__name__ for item in sink.items]
    assert kinds.count("ChartPoint") == 2 * len(VALUES) - 1  # individuals and moving ranges
    with pytest.raises(ConfigError, match=r"sinks\[0\].colour: Extra inputs are not permitted"):
        parse_config({**data, "sinks": [{"type": "toy", "colour": "red"}]})


def test_an_output_type_no_route_knows_is_an_error_not_a_dead_letter() -> None:
    engine = Engine(parse_config(_config("imr")))
    with pytest.raises(UnknownOutput, match="selects output kind 'scores'"):
        Runner(engine, IterableSource([]), [Route(ListSink(), frozenset({"scores"}))], ListSink())
    runner = Runner(engine, IterableSource([]), [], ListSink())
    with pytest.raises(UnknownOutput, match="no route kind for output type 'object'"):
        runner._emit([object()])  # type: ignore[list-item]


def test_the_readme_chart_table_is_the_registry_s() -> None:
    from linewatch.pipeline.registry_doc import BEGIN, END, chart_table

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    shown = readme.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert shown == chart_table(), (
        "README chart table is stale: python -m linewatch.pipeline.registry_doc"
    )


def test_one_rule_parser_for_the_cli_and_the_config() -> None:
    from linewatch.detectors.spc.analyze import parse_rules
    from linewatch.detectors.spc.rules import RuleSet
    from linewatch.pipeline.factory import build_detector

    # `--rules we` and `rules: we` used to disagree (the config refused it)
    config = parse_config(_config("imr", rules="we", dispersion_rules="1,2;2=7"))
    spec = config.lines[0].stations[0].characteristics[0]
    detector = build_detector(spec)
    assert detector.rules == parse_rules("we") == RuleSet(tests=(1, 2, 5, 6), k={2: 8})  # type: ignore[attr-defined]
    assert detector.dispersion_rules == RuleSet(tests=(1, 2), k={2: 7})  # type: ignore[attr-defined]
