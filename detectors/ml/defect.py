"""Defect predictor: P(defect | equipment parameters), learned online, scored prequentially.

Features are standardised online (:class:`OnlineMoments`, learning from every labelled
part) and fed to river's ``LogisticRegression`` (SGD, constant learning rate ``lr``,
optional ``l2``). :meth:`DefectPredictor.learn` first predicts, then updates river's
``ROCAUC`` and ``LogLoss`` with that prediction (prequential: test, then train), then
learns. The whole state, river's weights and metrics included, is plain data
(:meth:`to_state`), so it restores without executing anything.

A tree model (river's HoeffdingAdaptiveTree, AMF) was not measured against this baseline.

>>> import random
>>> rng = random.Random(0)
>>> predictor = DefectPredictor(["temp", "current"], lr=0.1)
>>> for _ in range(2000):
...     temp, current = rng.gauss(0, 1), rng.gauss(0, 1)
...     defect = rng.random() < 1 / (1 + 2.718 ** -(2 * temp - 3))
...     _ = predictor.learn({"temp": temp, "current": current}, defect)
>>> round(predictor.auc, 2), round(predictor.log_loss, 2)
(0.81, 0.33)
>>> predictor.predict_proba({"temp": 3.0, "current": 0.0}) > 0.5
True
>>> twin = DefectPredictor(["temp", "current"], lr=0.1)
>>> twin.set_state(predictor.to_state())
>>> twin.predict_proba({"temp": 1.0, "current": 1.0}) == predictor.predict_proba(
...     {"temp": 1.0, "current": 1.0})
True
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from river import linear_model as _linear_model
from river import metrics as _metrics
from river import optim as _optim

from linewatch.detectors.base import DetectorInputError
from linewatch.detectors.ml.standardize import OnlineMoments

__all__ = ["DefectPredictor"]

# river is untyped: use it through Any.
linear_model: Any = _linear_model
metrics: Any = _metrics
optim: Any = _optim


def _cm_state(cm: Any) -> dict[str, Any]:
    return {
        "data": [[bool(t), bool(p), w] for t, row in cm.data.items() for p, w in row.items()],
        "sum_row": [[bool(k), w] for k, w in cm.sum_row.items()],
        "sum_col": [[bool(k), w] for k, w in cm.sum_col.items()],
        "n_samples": cm.n_samples,
        "total_weight": cm.total_weight,
        "tp": cm._total_true_positives,
    }


def _set_cm_state(cm: Any, state: Mapping[str, Any]) -> None:
    cm.data.clear()
    for t, p, w in state["data"]:
        cm.data[bool(t)][bool(p)] = float(w)
    cm.sum_row = defaultdict(float, {bool(k): float(w) for k, w in state["sum_row"]})
    cm.sum_col = defaultdict(float, {bool(k): float(w) for k, w in state["sum_col"]})
    cm.n_samples = int(state["n_samples"])
    cm.total_weight = float(state["total_weight"])
    cm._total_true_positives = float(state["tp"])


class DefectPredictor:
    """Online logistic regression of defect on ``variables`` (see the module text)."""

    def __init__(
        self, variables: Sequence[str], lr: float = 0.05, l2: float = 0.0, warmup: int = 20
    ) -> None:
        if not variables or len(set(variables)) != len(variables):
            raise ValueError(f"variables must be distinct and not empty, got {variables!r}")
        if lr <= 0.0:
            raise ValueError(f"lr must be positive, got {lr}")
        self.variables = tuple(variables)
        self.lr = lr
        self.l2 = l2
        self.warmup = warmup
        self._moments = OnlineMoments(len(self.variables))
        self._model = linear_model.LogisticRegression(optimizer=optim.SGD(lr), l2=l2)
        self._auc = metrics.ROCAUC()
        self._log_loss = metrics.LogLoss()

    def _values(self, features: Mapping[str, float]) -> list[float]:
        values = []
        for name in self.variables:
            if name not in features:
                raise DetectorInputError(f"missing parameter {name!r}")
            value = float(features[name])
            if not math.isfinite(value):
                raise DetectorInputError(f"{name} must be finite, got {value!r}")
            values.append(value)
        return values

    def _scaled(self, values: list[float]) -> dict[str, float]:
        if self._moments.n < 2:
            return dict.fromkeys(self.variables, 0.0)
        return dict(zip(self.variables, self._moments.standardise(values), strict=True))

    @property
    def n_learned(self) -> int:
        """Labelled parts learned so far."""
        return self._moments.n

    @property
    def auc(self) -> float:
        """Prequential ROC AUC (river's ROCAUC, 10 thresholds)."""
        return float(self._auc.get())

    @property
    def log_loss(self) -> float:
        """Prequential mean log loss (river's LogLoss)."""
        return float(self._log_loss.get())

    def predict_proba(self, features: Mapping[str, float]) -> float:
        """P(defect) of a part made with ``features``; 0.5 before any learning."""
        scaled = self._scaled(self._values(features))
        return float(self._model.predict_proba_one(scaled)[True])

    def learn(self, features: Mapping[str, float], defect: bool) -> float:
        """Predict, score the prediction, then learn; returns the prequential P(defect)."""
        values = self._values(features)
        scaled = self._scaled(values)
        proba = float(self._model.predict_proba_one(scaled)[True])
        if self._moments.n >= self.warmup:
            self._auc.update(bool(defect), {False: 1.0 - proba, True: proba})
            self._log_loss.update(bool(defect), {False: 1.0 - proba, True: proba})
        self._moments.learn(values)
        self._model.learn_one(self._scaled(values), bool(defect))
        return proba

    def to_state(self) -> dict[str, Any]:
        """Learned state as JSON-able plain data (no pickles)."""
        mean = self._log_loss._mean
        return {
            "moments": self._moments.to_state(),
            "weights": {k: float(v) for k, v in self._model._weights.to_dict().items()},
            "intercept": float(self._model.intercept),
            "iterations": int(self._model.optimizer.n_iterations),
            "auc": [_cm_state(cm) for cm in self._auc.cms],
            "log_loss": [float(mean.n), float(mean._mean)],
        }

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Load what :meth:`to_state` returned."""
        self._moments.set_state(state["moments"])
        self._model = linear_model.LogisticRegression(optimizer=optim.SGD(self.lr), l2=self.l2)
        for name, weight in state["weights"].items():
            self._model._weights[name] = float(weight)
        self._model.intercept = float(state["intercept"])
        self._model.optimizer.n_iterations = int(state["iterations"])
        self._auc = metrics.ROCAUC()
        for cm, cm_state in zip(self._auc.cms, state["auc"], strict=True):
            _set_cm_state(cm, cm_state)
        self._log_loss = metrics.LogLoss()
        self._log_loss._mean.n = float(state["log_loss"][0])
        self._log_loss._mean._mean = float(state["log_loss"][1])
