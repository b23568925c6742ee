"""Runs the stations' ``models:`` (pipeline/model_config.py) on the records the engine took.

The engine hands every record it processed whole, with the outputs it made, to
:meth:`ModelRuntime.observe`. Three kinds of model unit, each owned by one station:

* an equipment model gathers one vector a part (its variables' values with the same
  ``part_id``; the same timestamp without one) and scores it: a :class:`ModelScore` with the
  top contributing parameters, and an alert (rule ``model:<type>``) when beyond its threshold;
* a defect predictor predicts P(defect) of each part from the station's vector (the
  prediction is made when the part is made, before its inspection), feeds the log-odds to a
  CUSUM (rule ``forecast:defect_p`` when the mean risk rises), and learns from the
  inspections at its target station, joined by part id or time window; every
  ``kpi_every`` labelled parts it writes the KPIs ``auc`` and ``log_loss``;
* a forecast learns a chart's statistic or a rolling defect rate (Holt) and alerts
  (rule ``forecast``) when the band crosses a limit within the horizon; each forecast is a
  chart point on chart ``forecast:<name>`` (value: the mean ``horizon`` points ahead; ucl and
  lcl: the limits; cl: the current level).

Every model alert's stream is ``line/station/<model name>``, so its fingerprint names the
model. All state is plain data (:meth:`ModelRuntime.snapshot_key`), restored exactly.

The defect predictor joins records of two stations of a line, which a Kafka consumer group
may give to different workers (the key is ``line/station``): it runs in a per-line stage
on one worker, so a config with a defect predictor and a Kafka source is refused at start
(see the README, "Models").
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import msgspec

from linewatch.detectors.base import PlotPoint, Signal
from linewatch.detectors.ml import (
    MODEL_TYPES,
    DefectPredictor,
    HoltForecaster,
    ModelDetector,
    PartJoiner,
    ProbabilityCusum,
    predict_crossing,
)
from linewatch.pipeline.alerts import AlertManager, StreamIdentity
from linewatch.pipeline.config import Config, ConfigError, KafkaSourceConfig, StationConfig
from linewatch.pipeline.model_config import (
    DefectPredictorConfig,
    EquipmentModelConfig,
    ForecastConfig,
    ModelConfig,
)
from linewatch.pipeline.models import (
    ChartPoint,
    Inspection,
    Kpi,
    ModelScore,
    Output,
    Parameter,
    WireRecord,
)

__all__ = ["ModelRuntime", "build_equipment_model"]

#: Part vectors kept per model before the oldest incomplete one is dropped.
MAX_PENDING = 64
DEFECT_P_CHART = "forecast:defect_p"


def build_equipment_model(spec: EquipmentModelConfig, variables: Sequence[str]) -> ModelDetector:
    """The detector of an equipment model; ``ValueError`` for a setting it refuses."""
    params = {k: int(v) if float(v).is_integer() else v for k, v in spec.params.items()}
    kind: Any = MODEL_TYPES[spec.type]
    try:
        detector: ModelDetector = kind(
            variables=list(variables), warmup=spec.warmup, target_far=spec.target_far, **params
        )
    except TypeError as exc:  # an unknown parameter of that type
        raise ValueError(f"{spec.type}: {exc}") from None
    return detector


def _equipment_of(variables: Sequence[str], station: str) -> str:
    owners = {name.partition("/")[0] for name in variables}
    return owners.pop() if len(owners) == 1 else station


@dataclass(slots=True)
class _Vectors:
    """Values per part (part id, or timestamp), oldest first; complete ones are handed out."""

    names: frozenset[str]
    pending: dict[str, dict[str, float]] = field(default_factory=dict)
    dropped: int = 0

    def add(self, record: Parameter, name: str) -> dict[str, float] | None:
        part = record.part_id or record.ts.isoformat()
        values = self.pending.setdefault(part, {})
        values[name] = record.value
        if len(values) < len(self.names):
            while len(self.pending) > MAX_PENDING:
                del self.pending[next(iter(self.pending))]
                self.dropped += 1
            return None
        del self.pending[part]
        return values

    def state(self) -> dict[str, Any]:
        return {"pending": {p: dict(v) for p, v in self.pending.items()}, "dropped": self.dropped}

    def restore(self, state: Mapping[str, Any]) -> None:
        self.pending = {p: {k: float(x) for k, x in v.items()} for p, v in state["pending"].items()}
        self.dropped = int(state["dropped"])


class _Equipment:
    def __init__(self, spec: EquipmentModelConfig, variables: Sequence[str], station: str) -> None:
        self.spec = spec
        self.detector = build_equipment_model(spec, variables)
        self.vectors = _Vectors(frozenset(variables))
        self.equipment = _equipment_of(variables, station)

    def state(self) -> dict[str, Any]:
        return {
            "detector": msgspec.json.decode(self.detector.snapshot()),
            "vectors": self.vectors.state(),
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        self.detector.restore(msgspec.json.encode(state["detector"]))
        self.vectors.restore(state["vectors"])


class _Predictor:
    def __init__(self, spec: DefectPredictorConfig, station: str) -> None:
        self.spec = spec
        self.predictor = DefectPredictor(spec.features, lr=spec.lr, l2=spec.l2)
        join = spec.join
        self.joiner = PartJoiner(join.max_parts, join.max_samples)
        self.cusum = ProbabilityCusum(spec.cusum.warmup, spec.cusum.k, spec.cusum.h)
        self.vectors = _Vectors(frozenset(spec.features))
        self.equipment = _equipment_of(spec.features, station)
        self.codes = frozenset(spec.target.codes)
        self.points = 0  # judged predictions: the index on the defect_p chart
        self.out_of_order = 0

    def defective(self, record: Inspection) -> bool:
        if self.codes:
            return any(code in self.codes for code in record.defect_codes)
        return record.result == "fail"

    def state(self) -> dict[str, Any]:
        return {
            "predictor": self.predictor.to_state(),
            "joiner": self.joiner.to_state(),
            "cusum": self.cusum.to_state(),
            "vectors": self.vectors.state(),
            "points": self.points,
            "out_of_order": self.out_of_order,
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        self.predictor.set_state(state["predictor"])
        self.joiner.set_state(state["joiner"])
        self.cusum.set_state(state["cusum"])
        self.vectors.restore(state["vectors"])
        self.points = int(state["points"])
        self.out_of_order = int(state["out_of_order"])


class _Forecast:
    def __init__(self, spec: ForecastConfig) -> None:
        self.spec = spec
        self.holt = HoltForecaster(spec.alpha, spec.beta, spec.coverage)
        target = spec.target
        self.codes = None if target.defect_codes is None else frozenset(target.defect_codes)
        self.window: deque[bool] = deque(maxlen=target.window_parts)
        self.parts = 0
        self.first_ts: datetime | None = None
        self.last_ts: datetime | None = None
        self.lcl = spec.lower
        self.ucl = spec.upper
        self.charts: dict[str, str] = {}  # characteristic -> its main (first plotted) chart
        self.points = 0

    @property
    def label(self) -> str:
        target = self.spec.target
        if target.characteristic is not None:
            return target.characteristic
        return "defect_rate:" + ("+".join(sorted(self.codes or ())) or "any")

    def state(self) -> dict[str, Any]:
        return {
            "holt": self.holt.to_state(),
            "window": list(self.window),
            "parts": self.parts,
            "first_ts": None if self.first_ts is None else self.first_ts.isoformat(),
            "last_ts": None if self.last_ts is None else self.last_ts.isoformat(),
            "limits": [self.lcl, self.ucl],
            "charts": dict(self.charts),
            "points": self.points,
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        self.holt.set_state(state["holt"])
        self.window.clear()
        self.window.extend(bool(x) for x in state["window"])
        self.parts = int(state["parts"])
        first, last = state["first_ts"], state["last_ts"]
        self.first_ts = None if first is None else datetime.fromisoformat(first)
        self.last_ts = None if last is None else datetime.fromisoformat(last)
        self.lcl, self.ucl = (None if x is None else float(x) for x in state["limits"])
        self.charts = dict(state["charts"])
        self.points = int(state["points"])


_Unit = _Equipment | _Predictor | _Forecast


@dataclass(slots=True)
class _Placed:
    """A configured model: where it lives and what it reads."""

    line: str
    station: str
    spec: ModelConfig
    variables: tuple[str, ...] = ()


class ModelRuntime:
    """The model units of one job, per ``line/station`` (see the module text)."""

    def __init__(self, config: Config, alerts: AlertManager) -> None:
        self.alerts = alerts
        self._placed: dict[str, list[_Placed]] = {}  # line/station -> its models
        self._targets: dict[str, list[tuple[str, str]]] = {}  # inspected key -> (owner, name)
        problems: list[str] = []
        for i, line in enumerate(config.lines):
            stations = {s.name for s in line.stations}
            for j, station in enumerate(line.stations):
                key = f"{line.name}/{station.name}"
                for k, spec in enumerate(station.models):
                    at = f"lines[{i}].stations[{j}].models[{k}]"
                    placed, why = _place(line.name, station, spec, stations, config)
                    problems += [f"{at}: {problem}" for problem in why]
                    if placed is not None:
                        self._placed.setdefault(key, []).append(placed)
                        if isinstance(spec, DefectPredictorConfig):
                            target = f"{line.name}/{spec.target.station}"
                            self._targets.setdefault(target, []).append((key, spec.name))
                names = [m.name for m in station.models]
                problems += [
                    f"lines[{i}].stations[{j}].models: duplicate model {name!r}"
                    for n, name in enumerate(names)
                    if name in names[:n]
                ]
        if problems:
            raise ConfigError(problems)
        self._units: dict[str, dict[str, _Unit]] = {}

    @property
    def configured(self) -> bool:
        return bool(self._placed)

    # -- processing --------------------------------------------------------------------

    def observe(self, record: WireRecord, outputs: Sequence[Output]) -> list[Output]:
        """Outputs of the models for one record the engine processed (with its outputs)."""
        key = record.stream_key
        made: list[Output] = []
        if key in self._placed:
            units = self._units_of(key)
            for placed in self._placed[key]:
                unit = units[placed.spec.name]
                if isinstance(unit, _Equipment):
                    if isinstance(record, Parameter):
                        made += self._equipment(record, placed, unit)
                elif isinstance(unit, _Predictor):
                    if isinstance(record, Parameter):
                        made += self._predict(record, placed, unit)
                else:
                    made += self._forecast(record, outputs, placed, unit)
        for owner, name in self._targets.get(key, ()):
            if isinstance(record, Inspection):
                unit = self._units_of(owner)[name]
                assert isinstance(unit, _Predictor)
                made += self._learn(record, owner, unit)
        return made

    def _units_of(self, key: str) -> dict[str, _Unit]:
        units = self._units.get(key)
        if units is None:
            units = self._units[key] = {p.spec.name: _new_unit(p) for p in self._placed[key]}
        return units

    def _equipment(self, record: Parameter, placed: _Placed, unit: _Equipment) -> list[Output]:
        name = f"{record.equipment}/{record.name}"
        if name not in unit.vectors.names:
            return []
        values = unit.vectors.add(record, name)
        if values is None:
            return []
        result = unit.detector.evaluate(record.ts, values)
        spec = unit.spec
        top = [(n, float(v)) for n, v in result.top_contributors(spec.top)]
        score = ModelScore(
            ts=record.ts,
            line=placed.line,
            station=placed.station,
            equipment=unit.equipment,
            model=spec.name,
            score=float(result.score),
            threshold=float(result.threshold),
            contributions=top,
        )
        evaluation = result.to_evaluation()
        identity = StreamIdentity(placed.line, placed.station, spec.name)
        alerts = self.alerts.observe(identity, evaluation.points, evaluation.signals, spec.severity)
        return [score, *alerts]

    def _predict(self, record: Parameter, placed: _Placed, unit: _Predictor) -> list[Output]:
        name = f"{record.equipment}/{record.name}"
        if name not in unit.vectors.names:
            return []
        values = unit.vectors.add(record, name)
        if values is None:
            return []
        spec = unit.spec
        if spec.join.by == "part_id":
            if record.part_id is not None:
                unit.joiner.add_parameters(record.part_id, values)
        else:
            try:
                unit.joiner.add_sample(placed.station, record.ts, values)
            except ValueError:  # older than the last sample: within lateness, not joinable
                unit.out_of_order += 1
        if unit.predictor.n_learned < spec.warmup:
            return []
        probability = unit.predictor.predict_proba(values)
        alarm = unit.cusum.update(_risk(unit.predictor, values))
        cusum = unit.cusum
        score = 1.0 if alarm else min(1.0, cusum.statistic / cusum.h)
        index, unit.points = unit.points, unit.points + 1
        outputs: list[Output] = [
            ModelScore(
                ts=record.ts,
                line=placed.line,
                station=placed.station,
                equipment=unit.equipment,
                model=spec.name,
                score=score,
                threshold=1.0,
                predicted_defect_p=probability,
            )
        ]
        calibrated = cusum._moments.n >= cusum.warmup
        if not calibrated:
            return outputs
        rules = (DEFECT_P_CHART,) if alarm else ()
        point = PlotPoint(record.ts, DEFECT_P_CHART, index, score, None, 0.0, 1.0, 1, "", rules)
        signals: tuple[Signal, ...] = ()
        if alarm:
            description = (
                f"mean predicted P(defect {_codes(spec)} at {spec.target.station}) rose above "
                f"its in-control level (CUSUM of the parameters' log-odds, h {cusum.h:g}); "
                f"now {probability:.3g}{_top_features(unit, values)}"
            )
            signals = (
                Signal(
                    record.ts,
                    DEFECT_P_CHART,
                    DEFECT_P_CHART,
                    index,
                    score,
                    0.0,
                    0.0,
                    1.0,
                    description,
                ),
            )
        identity = StreamIdentity(placed.line, placed.station, spec.name)
        outputs += self.alerts.observe(identity, (point,), signals, spec.severity)
        return outputs

    def _learn(self, record: Inspection, owner: str, unit: _Predictor) -> list[Output]:
        spec = unit.spec
        if spec.join.by == "part_id":
            features = unit.joiner.join(record.part_id)
        else:
            lag = timedelta(seconds=spec.join.lag_s)
            window = timedelta(seconds=spec.join.window_s)
            station = owner.partition("/")[2]
            features = unit.joiner.join_window(station, record.ts, lag, window)
        if features is None:
            return []
        unit.predictor.learn(features, unit.defective(record))
        learned = unit.predictor.n_learned
        if learned < spec.warmup or learned % spec.kpi_every:
            return []
        line, _, station = owner.partition("/")
        return [
            Kpi(
                ts=record.ts,
                line=line,
                station=station,
                kpi=kpi,
                value=value,
                window_s=0.0,
                characteristic=spec.name,
                window_n=learned,
            )
            for kpi, value in (
                ("auc", unit.predictor.auc),
                ("log_loss", unit.predictor.log_loss),
            )
        ]

    def _forecast(
        self, record: WireRecord, outputs: Sequence[Output], placed: _Placed, unit: _Forecast
    ) -> list[Output]:
        spec = unit.spec
        target = spec.target
        limits_from = spec.limits_from
        if limits_from is None and spec.lower is None and spec.upper is None:
            limits_from = target.characteristic  # the forecast chart's own limits
        value: float | None = None
        for item in outputs:
            if not isinstance(item, ChartPoint) or item.chart.startswith("forecast:"):
                continue
            main = unit.charts.setdefault(item.characteristic, item.chart)
            if item.chart != main:
                continue
            if item.characteristic == limits_from and item.ucl is not None:
                # A defect rate is bad only when it rises: its lower limit is no alarm.
                unit.lcl = item.lcl if unit.codes is None else spec.lower
                unit.ucl = item.ucl
            if item.characteristic == target.characteristic:
                value = item.value
        if unit.codes is not None and isinstance(record, Inspection):
            if unit.codes:
                unit.window.append(any(c in unit.codes for c in record.defect_codes))
            else:
                unit.window.append(record.defects > 0 or record.result == "fail")
            unit.parts += 1
            full = len(unit.window) == target.window_parts
            if full and unit.parts % target.every_parts == 0:
                value = sum(unit.window) / len(unit.window)
        if value is None:
            return []
        return self._step(record.ts, value, placed, unit)

    def _step(self, ts: datetime, value: float, placed: _Placed, unit: _Forecast) -> list[Output]:
        spec = unit.spec
        unit.holt.learn(value)
        if unit.first_ts is None:
            unit.first_ts = ts
        unit.last_ts = ts
        n = unit.holt.n
        if n < max(spec.warmup, 2) or (unit.lcl is None and unit.ucl is None):
            return []
        interval = (ts - unit.first_ts) / (n - 1)
        crossing = predict_crossing(unit.holt, spec.horizon, unit.lcl, unit.ucl, interval, ts)
        ahead = unit.holt.forecast(spec.horizon)
        index, unit.points = unit.points, unit.points + 1
        chart = f"forecast:{spec.name}"
        rules = ("forecast",) if crossing else ()
        point = ChartPoint(
            ts=ts,
            line=placed.line,
            station=placed.station,
            characteristic=unit.label,
            chart=chart,
            value=ahead.mean,
            cl=unit.holt.level,
            ucl=unit.ucl,
            lcl=unit.lcl,
            zone="beyond" if crossing else "",
            limits_version=1,
            violations=list(rules),
        )
        plot = PlotPoint(
            ts, chart, index, ahead.mean, unit.holt.level, unit.lcl, unit.ucl, 1, point.zone, rules
        )
        signals: tuple[Signal, ...] = ()
        if crossing is not None:
            expected = (
                crossing.expected_at.isoformat() if crossing.expected_at else "not on the trend"
            )
            band = crossing.forecast
            description = (
                f"forecast of {unit.label} crosses {crossing.limit} {crossing.value:.4g} within "
                f"{spec.horizon} points: band [{band.lower:.4g}, {band.upper:.4g}] at step "
                f"{crossing.band_step} ({crossing.band_at.isoformat()}); expected crossing at "
                f"{expected}"
            )
            signals = (
                Signal(
                    ts,
                    "forecast",
                    chart,
                    index,
                    ahead.mean,
                    unit.holt.level,
                    unit.lcl,
                    unit.ucl,
                    description,
                ),
            )
        identity = StreamIdentity(placed.line, placed.station, spec.name)
        return [point, *self.alerts.observe(identity, (plot,), signals, spec.severity)]

    # -- state -------------------------------------------------------------------------

    def keys(self) -> list[str]:
        """The ``line/station`` keys with model state."""
        return sorted(self._units)

    def snapshot_key(self, key: str) -> dict[str, Any] | None:
        """The models' state of one ``line/station``, JSON-able (None: nothing yet)."""
        units = self._units.get(key)
        if units is None:
            return None
        return {name: unit.state() for name, unit in units.items()}

    def restore_key(self, key: str, state: Mapping[str, Any] | None) -> None:
        """Load :meth:`snapshot_key`; models no longer configured are dropped."""
        self.drop_key(key)
        if state is None or key not in self._placed:
            return
        units = self._units_of(key)
        for name, saved in state.items():
            if name in units:
                units[name].restore(saved)

    def drop_key(self, key: str) -> None:
        self._units.pop(key, None)


def _codes(spec: DefectPredictorConfig) -> str:
    return "/".join(spec.target.codes) or "any"


def _risk(predictor: DefectPredictor, values: Mapping[str, float]) -> float:
    """The parameters' part of the log-odds of P(defect), per unit of weight.

    Weights times standardised features, divided by the weights' norm: how many sigmas the
    part's parameters lie in the direction that raises P(defect). The intercept is left
    out (it keeps learning the base rate long after the warm-up), and so is the weights'
    size (it keeps growing as defects are learned): a CUSUM against a level set while
    either moved would alarm, or go blind, on that alone. In control this is about
    standard normal, so the CUSUM's in-control level and sigma stay right.
    """
    weights = predictor.to_state()["weights"]
    scaled = predictor._scaled([values[n] for n in predictor.variables])
    norm = math.sqrt(math.fsum(weights.get(n, 0.0) ** 2 for n in scaled))
    if norm == 0.0:
        return 0.0
    return math.fsum(weights.get(n, 0.0) * x for n, x in scaled.items()) / norm


def _top_features(unit: _Predictor, values: Mapping[str, float]) -> str:
    """The features that push P(defect) up most, as weight times standardised value."""
    weights = unit.predictor.to_state()["weights"]
    scaled = unit.predictor._scaled([values[n] for n in unit.predictor.variables])
    pushes = sorted(
        ((n, weights.get(n, 0.0) * scaled[n]) for n in unit.predictor.variables),
        key=lambda kv: -kv[1],
    )
    shown = [f"{n} {push:+.2f}" for n, push in pushes[:3] if push > 0.0]
    return f"; top: {', '.join(shown)}" if shown else ""


def _new_unit(placed: _Placed) -> _Unit:
    spec = placed.spec
    if isinstance(spec, EquipmentModelConfig):
        return _Equipment(spec, placed.variables, placed.station)
    if isinstance(spec, DefectPredictorConfig):
        return _Predictor(spec, placed.station)
    return _Forecast(spec)


def _place(
    line: str, station: StationConfig, spec: ModelConfig, stations: set[str], config: Config
) -> tuple[_Placed | None, list[str]]:
    """The placed model, or the problems of its references to the rest of the config."""
    parameters = {f"{p.equipment}/{p.name}" for p in station.parameters}
    groups = {g.name: g.parameters for g in station.multivariate}
    parameters.update(name for members in groups.values() for name in members)
    characteristics = {c.name for c in station.characteristics}
    problems: list[str] = []
    if isinstance(spec, EquipmentModelConfig):
        variables: list[str] = []
        for name in spec.variables:
            if name in groups:
                variables += groups[name]
            elif name in parameters:
                variables.append(name)
            else:
                problems.append(
                    f"variable {name!r} is neither a parameter (equipment/name) nor a "
                    f"multivariate group of station {station.name!r}"
                )
        if not problems:
            try:
                build_equipment_model(spec, list(dict.fromkeys(variables)))
            except ValueError as exc:
                problems.append(str(exc))
        return _Placed(line, station.name, spec, tuple(dict.fromkeys(variables))), problems
    if isinstance(spec, DefectPredictorConfig):
        problems += [
            f"feature {name!r} is not a parameter of station {station.name!r}"
            for name in spec.features
            if name not in parameters
        ]
        if spec.target.station not in stations:
            problems.append(f"target station {spec.target.station!r} is not a station of {line}")
        if isinstance(config.source, KafkaSourceConfig):
            problems.append(
                "a defect_predictor joins the records of several stations of a line, which "
                "the workers of a Kafka consumer group hold apart (key line/station); it runs "
                "in a per-line stage on one worker: use a file, simulator or influx source"
            )
        return _Placed(line, station.name, spec), problems
    target = spec.target
    for what, ref in (("target", target.characteristic), ("limits_from", spec.limits_from)):
        if ref is not None and ref not in characteristics:
            problems.append(f"{what} {ref!r} is not a characteristic of station {station.name!r}")
    return _Placed(line, station.name, spec), problems
