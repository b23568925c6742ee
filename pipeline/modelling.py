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
may give to different workers (the key is ``line/station``): with a Kafka source the job
runs it in a second stage keyed by line (``predictors="none"`` here, ``"only"`` there; see
:mod:`linewatch.pipeline.repartition` and the README, "Repartitioning for the defect
predictor").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from linewatch.detectors.base import PlotPoint, Signal
from linewatch.detectors.ml import predict_crossing
from linewatch.pipeline.alerts import AlertManager, StreamIdentity
from linewatch.pipeline.config import Config, ConfigError, StationConfig
from linewatch.pipeline.model_config import (
    DefectPredictorConfig,
    EquipmentModelConfig,
    ModelConfig,
)
from linewatch.pipeline.model_units import (
    DEFECT_P_CHART,
    EquipmentUnit,
    ForecastUnit,
    PredictorUnit,
    Unit,
    build_equipment_model,
    risk,
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

__all__ = ["ModelRuntime", "PredictorScope"]

#: Which models a runtime runs: all, all but the defect predictors (a Kafka job's first
#: stage), or only the defect predictors (its line stage).
PredictorScope = Literal["all", "none", "only"]


@dataclass(slots=True)
class _Placed:
    """A configured model: where it lives and what it reads."""

    line: str
    station: str
    spec: ModelConfig
    variables: tuple[str, ...] = ()


class ModelRuntime:
    """The model units of one job, per ``line/station`` (see the module text)."""

    def __init__(
        self, config: Config, alerts: AlertManager, predictors: PredictorScope = "all"
    ) -> None:
        self.alerts = alerts
        #: Keys whose records feed a defect predictor: owner station -> parameters,
        #: target station -> inspections (what a Kafka job forwards to its line stage).
        self.predictor_parameters: set[str] = set()
        self.predictor_inspections: set[str] = set()
        self._placed: dict[str, list[_Placed]] = {}  # line/station -> its models
        self._targets: dict[str, list[tuple[str, str]]] = {}  # inspected key -> (owner, name)
        problems: list[str] = []
        for i, line in enumerate(config.lines):
            stations = {s.name for s in line.stations}
            for j, station in enumerate(line.stations):
                key = f"{line.name}/{station.name}"
                for k, spec in enumerate(station.models):
                    at = f"lines[{i}].stations[{j}].models[{k}]"
                    placed, why = _place(line.name, station, spec, stations)
                    problems += [f"{at}: {problem}" for problem in why]
                    predictor = isinstance(spec, DefectPredictorConfig)
                    if predictor:
                        self.predictor_parameters.add(key)
                        assert isinstance(spec, DefectPredictorConfig)
                        self.predictor_inspections.add(f"{line.name}/{spec.target.station}")
                    if placed is None or (predictors == "none" and predictor):
                        continue
                    if predictors == "only" and not predictor:
                        continue
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
        self._units: dict[str, dict[str, Unit]] = {}
        #: While the engine rebuilds one key, records of that key change no other key's
        #: models (a predictor elsewhere learned from them already).
        self.rebuilding: str | None = None

    @property
    def configured(self) -> bool:
        return bool(self._placed)

    @property
    def has_predictors(self) -> bool:
        """Whether the config has a defect predictor (run here or not)."""
        return bool(self.predictor_parameters)

    def feeds_predictor(self, record: WireRecord) -> bool:
        """Whether a defect predictor reads ``record`` (its station's parameters, or an
        inspection at its target station)."""
        key = record.stream_key
        if isinstance(record, Parameter):
            return key in self.predictor_parameters
        return isinstance(record, Inspection) and key in self.predictor_inspections

    # -- processing --------------------------------------------------------------------

    def observe(self, record: WireRecord, outputs: Sequence[Output]) -> list[Output]:
        """Outputs of the models for one record the engine processed (with its outputs)."""
        key = record.stream_key
        made: list[Output] = []
        if key in self._placed:
            units = self._units_of(key)
            for placed in self._placed[key]:
                unit = units[placed.spec.name]
                if isinstance(unit, EquipmentUnit):
                    if isinstance(record, Parameter):
                        made += self._equipment(record, placed, unit)
                elif isinstance(unit, PredictorUnit):
                    if isinstance(record, Parameter):
                        made += self._predict(record, placed, unit)
                else:
                    made += self._forecast(record, outputs, placed, unit)
        for owner, name in self._targets.get(key, ()):
            if isinstance(record, Inspection) and self.rebuilding in (None, owner):
                unit = self._units_of(owner)[name]
                assert isinstance(unit, PredictorUnit)
                made += self._learn(record, owner, unit)
        return made

    def _units_of(self, key: str) -> dict[str, Unit]:
        units = self._units.get(key)
        if units is None:
            units = self._units[key] = {p.spec.name: _new_unit(p) for p in self._placed[key]}
        return units

    def _equipment(self, record: Parameter, placed: _Placed, unit: EquipmentUnit) -> list[Output]:
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

    def _predict(self, record: Parameter, placed: _Placed, unit: PredictorUnit) -> list[Output]:
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
        alarm = unit.cusum.update(risk(unit.predictor, values))
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

    def _learn(self, record: Inspection, owner: str, unit: PredictorUnit) -> list[Output]:
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
        self, record: WireRecord, outputs: Sequence[Output], placed: _Placed, unit: ForecastUnit
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

    def _step(
        self, ts: datetime, value: float, placed: _Placed, unit: ForecastUnit
    ) -> list[Output]:
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


def _top_features(unit: PredictorUnit, values: Mapping[str, float]) -> str:
    """The features that push P(defect) up most, as weight times standardised value."""
    weights = unit.predictor.to_state()["weights"]
    scaled = unit.predictor._scaled([values[n] for n in unit.predictor.variables])
    pushes = sorted(
        ((n, weights.get(n, 0.0) * scaled[n]) for n in unit.predictor.variables),
        key=lambda kv: -kv[1],
    )
    shown = [f"{n} {push:+.2f}" for n, push in pushes[:3] if push > 0.0]
    return f"; top: {', '.join(shown)}" if shown else ""


def _new_unit(placed: _Placed) -> Unit:
    spec = placed.spec
    if isinstance(spec, EquipmentModelConfig):
        return EquipmentUnit(spec, placed.variables, placed.station)
    if isinstance(spec, DefectPredictorConfig):
        return PredictorUnit(spec, placed.station)
    return ForecastUnit(spec)


def _place(
    line: str, station: StationConfig, spec: ModelConfig, stations: set[str]
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
        return _Placed(line, station.name, spec), problems
    target = spec.target
    for what, ref in (("target", target.characteristic), ("limits_from", spec.limits_from)):
        if ref is not None and ref not in characteristics:
            problems.append(f"{what} {ref!r} is not a characteristic of station {station.name!r}")
    return _Placed(line, station.name, spec), problems
