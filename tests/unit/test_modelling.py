"""Station models through the engine: scores, alerts, KPIs, forecasts, config errors, state."""

from __future__ import annotations

import random
import typing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

from linewatch.connectors.influxdb.schema import item_line
from linewatch.detectors.ml import MEWMA, MODEL_TYPES, DefectPredictor
from linewatch.pipeline import model_config
from linewatch.pipeline.alerts import AlertManager, StreamIdentity, fingerprint_of
from linewatch.pipeline.config import ConfigError, parse_config
from linewatch.pipeline.engine import Engine
from linewatch.pipeline.modelling import ModelRuntime
from linewatch.pipeline.models import (
    Alert,
    ChartPoint,
    Inspection,
    Kpi,
    Measurement,
    ModelScore,
    Output,
    Parameter,
)
from linewatch.pipeline.runner import output_kind
from tests.unit.demo_slice import outputs, run_in_process, write_slice

T0 = datetime(2026, 11, 23, 6, tzinfo=UTC)


def config(stations: list[dict[str, Any]], **top: Any) -> Any:
    return parse_config({"lines": [{"name": "L", "stations": stations}], **top})


def run(engine: Engine, records: list[Any]) -> list[Output]:
    made: list[Output] = []
    for record in records:
        made += engine.process(record)
    return made


def param(i: int, name: str, value: float, seconds: float = 0.0) -> Parameter:
    return Parameter(
        ts=T0 + timedelta(minutes=i, seconds=seconds),
        line="L",
        station="s",
        equipment="e",
        name=name,
        value=value,
        part_id=f"P{i}",
    )


def test_model_types_in_config_are_the_detector_registry() -> None:
    assert set(typing.get_args(model_config.EquipmentType)) == set(MODEL_TYPES)


def test_equipment_model_scores_each_part_as_the_detector_does_and_alerts_with_contributors() -> (
    None
):
    models = [
        {
            "type": "mewma",
            "name": "health",
            "variables": ["e/a", "e/b"],
            "warmup": 30,
            "severity": "critical",
            "params": {"lam": 0.2},
        }
    ]
    parameters = [{"equipment": "e", "name": n} for n in ("a", "b")]
    engine = Engine(config([{"name": "s", "parameters": parameters, "models": models}]))
    rng = random.Random(7)
    vectors = [(rng.gauss(0, 1), rng.gauss(0, 1)) for _ in range(80)]
    vectors[60:66] = [(a + 8.0, b) for a, b in vectors[60:66]]
    records = [r for i, (a, b) in enumerate(vectors) for r in (param(i, "a", a), param(i, "b", b))]
    made = run(engine, records)
    scores = [o for o in made if isinstance(o, ModelScore)]
    twin = MEWMA(variables=["e/a", "e/b"], warmup=30, target_far=0.0027, lam=0.2)
    expected = [
        twin.evaluate(T0 + timedelta(minutes=i), {"e/a": a, "e/b": b}).score
        for i, (a, b) in enumerate(vectors)
    ]
    assert [s.score for s in scores] == expected
    assert {(s.equipment, s.model, s.threshold) for s in scores} == {("e", "health", 0.9973)}
    alerts = [o for o in made if isinstance(o, Alert) and o.rule.startswith("model:")]
    assert [(a.ts, a.rule, a.severity, a.characteristic) for a in alerts] == [
        (T0 + timedelta(minutes=60), "model:mewma", "critical", "health")
    ]
    alert = alerts[0]
    assert alert.fingerprint == fingerprint_of(
        StreamIdentity("L", "s", "health"), "model:mewma", "model:mewma"
    )
    assert "top: e/a " in alert.message
    assert scores[60].contributions[0][0] == "e/a"
    assert output_kind(scores[0]) == "model_scores"


def test_defect_predictor_joins_by_part_id_and_matches_a_predictor_fed_directly() -> None:
    stations = [
        {
            "name": "s",
            "parameters": [{"equipment": "e", "name": "t"}],
            "models": [
                {
                    "type": "defect_predictor",
                    "name": "risk",
                    "features": ["e/t"],
                    "target": {"station": "f", "codes": ["x"]},
                    "lr": 0.1,
                    "warmup": 20,
                    "kpi_every": 10,
                    "cusum": {"warmup": 10, "k": 0.5, "h": 5},
                }
            ],
        },
        {"name": "f"},
    ]
    engine = Engine(config(stations))
    rng = random.Random(3)
    twin = DefectPredictor(["e/t"], lr=0.1)
    records: list[Any] = []
    predictions: list[float] = []
    kpis: list[tuple[str, float, int]] = []
    for i in range(100):
        t = rng.gauss(0, 1)
        defect = t + rng.gauss(0, 0.5) > 1.0
        records.append(param(i, "t", t))
        codes = ["x"] if defect else ["y"] if i % 7 == 0 else []
        records.append(
            Inspection(
                ts=T0 + timedelta(minutes=i, seconds=10),
                line="L",
                station="f",
                part_id=f"P{i}",
                result="fail" if codes else "pass",
                defects=len(codes),
                defect_codes=codes,
            )
        )
        if twin.n_learned >= 20:
            predictions.append(twin.predict_proba({"e/t": t}))
        twin.learn({"e/t": t}, defect)
        if twin.n_learned >= 20 and twin.n_learned % 10 == 0:
            kpis += [("auc", twin.auc, twin.n_learned), ("log_loss", twin.log_loss, twin.n_learned)]
    made = run(engine, records)
    scores = [o for o in made if isinstance(o, ModelScore)]
    assert [s.predicted_defect_p for s in scores] == predictions
    assert [
        (k.kpi, k.value, k.window_n)
        for k in made
        if isinstance(k, Kpi) and k.characteristic == "risk"
    ] == kpis
    assert len(kpis) == 2 * 9  # learned 20, 30, ..., 100


def test_forecast_alerts_when_the_trend_meets_the_limit_and_says_when() -> None:
    models = [
        {
            "type": "forecast",
            "name": "trend",
            "target": {"characteristic": "d"},
            "horizon": 4,
            "alpha": 0.5,
            "beta": 0.5,
            "warmup": 2,
            "upper": 2.0,
            "severity": "info",
        }
    ]
    characteristic = {"name": "d", "chart": "imr", "limits": {"center": 0.0, "sigma": 1.0}}
    engine = Engine(config([{"name": "s", "characteristics": [characteristic], "models": models}]))
    records = [
        Measurement(
            ts=T0 + timedelta(minutes=i), line="L", station="s", characteristic="d", value=0.125 * i
        )
        for i in range(16)
    ]
    made = run(engine, records)
    forecasts = [o for o in made if isinstance(o, ChartPoint) and o.chart == "forecast:trend"]
    # From the second point on: level 0.125 (n - 1), trend 0.125, no error; 4 points ahead.
    assert [p.value for p in forecasts] == [0.125 * (n - 1 + 4) for n in range(2, 17)]
    assert {p.ucl for p in forecasts} == {2.0}
    alerts = [o for o in made if isinstance(o, Alert) and o.rule == "forecast"]
    # 0.125 (n - 1 + 4) > 2 first at n = 14 (value 1.625): the mean meets 2.0 three minutes on.
    assert [(a.ts, a.severity, a.status) for a in alerts] == [
        (T0 + timedelta(minutes=13), "info", "firing")
    ]
    expected_at = (T0 + timedelta(minutes=16)).isoformat()
    assert "crosses ucl 2 within 4 points" in alerts[0].message
    assert f"expected crossing at {expected_at}" in alerts[0].message


@pytest.mark.parametrize(
    ("models", "problem"),
    [
        (
            [{"type": "pca", "name": "m", "variables": ["e/zz"]}],
            "lines[0].stations[0].models[0]: variable 'e/zz' is neither a parameter "
            "(equipment/name) nor a multivariate group of station 's'",
        ),
        (
            [{"type": "mewma", "name": "m", "variables": ["e/a"], "params": {"lam": 2.0}}],
            "lines[0].stations[0].models[0]: lam must be in (0, 1], got 2",
        ),
        (
            [{"type": "mewma", "name": "m", "variables": ["e/a"], "params": {"nope": 1}}],
            "lines[0].stations[0].models[0]: mewma: MEWMA.__init__() got an unexpected "
            "keyword argument 'nope'",
        ),
        (
            [
                {"type": "mewma", "name": "m", "variables": ["e/a"]},
                {"type": "hst", "name": "m", "variables": ["e/a"]},
            ],
            "lines[0].stations[0].models: duplicate model 'm'",
        ),
        (
            [
                {
                    "type": "defect_predictor",
                    "name": "m",
                    "features": ["e/a"],
                    "target": {"station": "nowhere"},
                }
            ],
            "lines[0].stations[0].models[0]: target station 'nowhere' is not a station of L",
        ),
    ],
)
def test_model_references_are_checked_at_start_with_their_path(
    models: list[dict[str, Any]], problem: str
) -> None:
    cfg = config([{"name": "s", "parameters": [{"equipment": "e", "name": "a"}], "models": models}])
    with pytest.raises(ConfigError) as caught:
        Engine(cfg)
    assert caught.value.problems == [problem]


def test_a_kafka_job_splits_the_defect_predictor_from_the_other_models() -> None:
    models = [
        {"type": "defect_predictor", "name": "m", "features": ["e/a"], "target": {"station": "f"}},
        {"type": "mewma", "name": "h", "variables": ["e/a"]},
    ]
    cfg = config(
        [
            {"name": "s", "parameters": [{"equipment": "e", "name": "a"}], "models": models},
            {"name": "f"},
        ],
        source={"type": "kafka", "bootstrap": "127.0.0.1:9092", "topics": ["t"]},
    )
    assert Engine(cfg).models.has_predictors  # no longer refused: a line stage runs it
    first = ModelRuntime(cfg, AlertManager(cfg.alerting), predictors="none")
    line_stage = ModelRuntime(cfg, AlertManager(cfg.alerting), predictors="only")
    records = [param(i, "a", float(i % 5)) for i in range(40)]
    assert {
        o.model for r in records for o in first.observe(r, []) if isinstance(o, ModelScore)
    } == {"h"}
    assert line_stage.observe(records[0], []) == []  # the predictor waits for its warmup
    assert first.keys() == ["L/s"] and line_stage.keys() == ["L/s"]
    assert list(first.snapshot_key("L/s") or {}) == ["h"]
    assert list(line_stage.snapshot_key("L/s") or {}) == ["m"]
    inspection = Inspection(ts=T0, line="L", station="f", part_id="P1", result="pass")
    assert first.feeds_predictor(records[0]) and first.feeds_predictor(inspection)
    assert not first.feeds_predictor(
        Inspection(ts=T0, line="L", station="s", part_id="P1", result="pass")
    )


def test_a_bad_model_key_is_a_yaml_path() -> None:
    with pytest.raises(ConfigError) as caught:
        config([{"name": "s", "models": [{"type": "ewma", "name": "m", "variables": []}]}])
    assert caught.value.problems == [
        "lines[0].stations[0].models[0].variables: List should have at least 1 item after "
        "validation, not 0"
    ]


def test_model_score_line_protocol() -> None:
    score = ModelScore(
        ts=T0,
        line="L3",
        station="weld-2",
        equipment="welder-07",
        model="health",
        score=0.5,
        threshold=0.9973,
        predicted_defect_p=0.25,
        contributions=[("welder-07/tip_temp_c", 3.0)],
    )
    assert item_line(score) == (
        "model_score,equipment=welder-07,line=L3,model=health,station=weld-2 "
        f"score=0.5,threshold=0.9973,predicted_defect_p=0.25 {int(T0.timestamp()) * 10**9}"
    )
    assert msgspec.json.decode(msgspec.json.encode(score))["contributions"] == [
        ["welder-07/tip_temp_c", 3.0]
    ]


def test_stop_checkpoint_and_resume_gives_the_same_model_outputs(tmp_path: Path) -> None:
    """The demo slice covers the tip-temperature trend: every model scores and alerts."""
    input_path, config_path = write_slice(tmp_path / "slice")
    straight = tmp_path / "straight"
    straight.mkdir()
    run_in_process(straight, input_path, config_path)
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    assert run_in_process(resumed, input_path, config_path, stop_after=9_000) < 20_000
    run_in_process(resumed, input_path, config_path)
    expected = outputs(straight)
    assert outputs(resumed) == expected
    alerts = expected["alerts.jsonl"].decode()
    assert '"rule":"model:equipment"' in alerts and '"rule":"forecast:defect_p"' in alerts
    assert b'"predicted_defect_p":0.' in expected["model-scores.jsonl"]


def _alert(rule: str, message: str) -> Alert:
    return Alert(
        alert_id="a-1",
        fingerprint="a",
        status="firing",
        ts=T0,
        starts_at=T0,
        ends_at=None,
        line="L3",
        station="weld-2",
        characteristic="health",
        chart=rule,
        rule=rule,
        severity="warning",
        value=1.0,
        cl=0.0,
        ucl=1.0,
        lcl=0.0,
        message=message,
    )


def test_the_report_lists_model_alerts_with_what_drove_them() -> None:
    from linewatch.pipeline.report import _model_alerts

    alerts = [
        _alert("nelson1", "d individuals: 1 point more than 3 sigma"),
        _alert(
            "model:mewma", "health model:mewma: mewma score 1 beyond 0.99; top: e/a 87%, e/b 13%"
        ),
        _alert(
            "forecast",
            "trend forecast:trend: forecast of d crosses ucl 2 within 4 points: band [2.1, 2.1] "
            "at step 4 (x); expected crossing at 2026-11-23T06:16:00+00:00",
        ),
    ]
    rows = _model_alerts(alerts)[-3:-1]
    assert rows == [
        "| 2026-11-23 06:00:00 | L3/weld-2 | health | model:mewma | warning | e/a 87%, e/b 13% |",
        "| 2026-11-23 06:00:00 | L3/weld-2 | health | forecast | warning | "
        "d → ucl 2, expected 2026-11-23T06:16:00+00:00 |",
    ]
    assert _model_alerts(alerts[:1]) == []


def test_check_config_reports_a_model_reference_with_its_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from linewatch.pipeline.cli import main

    path = tmp_path / "bad.yaml"
    path.write_text(
        "lines:\n  - name: L\n    stations:\n      - name: s\n        models:\n"
        "          - {type: mewma, name: m, variables: [e/nope]}\n"
    )
    assert main(["check-config", str(path)]) == 2
    assert (
        "lines[0].stations[0].models[0]: variable 'e/nope' is neither a parameter "
        "(equipment/name) nor a multivariate group of station 's'" in capsys.readouterr().err
    )
