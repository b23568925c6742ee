"""The state of each kind of station model, as plain data (run by pipeline/modelling.py).

Each unit holds what one configured model learns: the detector (equipment models), the
predictor, its join and its CUSUM (defect predictors), the forecaster and its series
(forecasts), and the part vectors being gathered. ``state()`` is JSON-able and
``restore(state)`` loads it exactly, so a restored model scores bit-identically.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from linewatch.detectors.ml import (
    MODEL_TYPES,
    DefectPredictor,
    HoltForecaster,
    ModelDetector,
    PartJoiner,
    ProbabilityCusum,
)
from linewatch.pipeline.model_config import (
    DefectPredictorConfig,
    EquipmentModelConfig,
    ForecastConfig,
)
from linewatch.pipeline.models import Inspection, Parameter

__all__ = [
    "DEFECT_P_CHART",
    "EquipmentUnit",
    "ForecastUnit",
    "PredictorUnit",
    "Unit",
    "Vectors",
    "build_equipment_model",
    "risk",
]

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
class Vectors:
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


class EquipmentUnit:
    def __init__(self, spec: EquipmentModelConfig, variables: Sequence[str], station: str) -> None:
        self.spec = spec
        self.detector = build_equipment_model(spec, variables)
        self.vectors = Vectors(frozenset(variables))
        self.equipment = _equipment_of(variables, station)

    def state(self) -> dict[str, Any]:
        return {
            "detector": msgspec.json.decode(self.detector.snapshot()),
            "vectors": self.vectors.state(),
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        self.detector.restore(msgspec.json.encode(state["detector"]))
        self.vectors.restore(state["vectors"])


class PredictorUnit:
    def __init__(self, spec: DefectPredictorConfig, station: str) -> None:
        self.spec = spec
        self.predictor = DefectPredictor(spec.features, lr=spec.lr, l2=spec.l2)
        join = spec.join
        self.joiner = PartJoiner(join.max_parts, join.max_samples)
        self.cusum = ProbabilityCusum(spec.cusum.warmup, spec.cusum.k, spec.cusum.h)
        self.vectors = Vectors(frozenset(spec.features))
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


class ForecastUnit:
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


Unit = EquipmentUnit | PredictorUnit | ForecastUnit


def risk(predictor: DefectPredictor, values: Mapping[str, float]) -> float:
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
