"""The shared frame of the model detectors: warm-up, calibrated threshold, no learning when flagged.

A model detector judges a vector of named equipment parameters (a mapping, read in the
fixed order of ``variables``). Its first ``warmup`` observations are the in-control phase:
they are learned and not judged (score 0, ``calibrated`` False). After that each
observation gets a score in [0, 1] and an alarm when ``score > 1 - target_far``; the
scores are built so that an in-control point exceeds that with probability about
``target_far``. A flagged point is never learned, so a slow drift cannot become the
new normal; the time-weighted statistics (the MEWMA vector, ...) still advance on it.

Subclasses implement the four hooks ``_warm``, ``_calibrate``, ``_assess`` and the state
pair ``_model_state``/``_set_model_state``. ``_assess`` computes without side effects and
returns a ``commit`` callable, so :meth:`ModelDetector.score` needs no deep copy.
"""

from __future__ import annotations

import abc
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from linewatch.detectors.base import Detector, DetectorInputError, Evaluation, Observation
from linewatch.detectors.ml.result import ModelEvaluation

__all__ = ["Assessment", "ModelDetector", "bonferroni_score"]


@dataclass(slots=True)
class Assessment:
    """A judgement not yet applied: ``commit(alarm)`` advances the state with it."""

    score: float
    statistic: float
    contributions: list[float]
    commit: Callable[[bool], None]


def bonferroni_score(p_values: Sequence[float]) -> float:
    """``1 - min(1, k * min(p))``: one score from k p-values at a family false-alarm rate.

    >>> bonferroni_score([0.5, 0.001])
    0.998
    >>> bonferroni_score([0.9, 0.8])
    0.0
    """
    return 1.0 - min(1.0, len(p_values) * min(p_values))


def _one(name: str) -> Callable[[Any], tuple[Any]]:
    def get(mapping: Any) -> tuple[Any]:
        return (mapping[name],)

    return get


class ModelDetector(Detector):
    """Base of the model detectors (see the module text)."""

    #: Name of the model: the chart is ``model:<name>`` and so is the signal's rule.
    model_name: ClassVar[str] = "model"
    #: The generic checks hold these to a score() without a deep copy.
    copy_free_score: ClassVar[bool] = True
    max_state_bytes: int = 65536

    variables: tuple[str, ...]
    warmup: int
    target_far: float

    def _setup(self, variables: Sequence[str], warmup: int, target_far: float) -> None:
        names = tuple(variables)
        if not names or len(set(names)) != len(names):
            raise ValueError(f"variables must be distinct and not empty, got {variables!r}")
        if warmup < 2:
            raise ValueError(f"warmup must be at least 2, got {warmup}")
        if not 0.0 < target_far < 1.0:
            raise ValueError(f"target_far must be in (0, 1), got {target_far}")
        self._names = names
        # One C call reads the vector; a 1-tuple for one variable, like for many.
        self._getter: Callable[[Any], Any] = (
            operator.itemgetter(*names) if len(names) > 1 else _one(names[0])
        )
        self._label = self.model_name
        self._threshold = 1.0 - target_far
        self._seen = 0

    @property
    def threshold(self) -> float:
        """The alarm threshold on the score: ``1 - target_far``."""
        return 1.0 - self.target_far

    @property
    def has_limits(self) -> bool:
        return self._seen >= self.warmup

    # -- hooks ------------------------------------------------------------------------

    @abc.abstractmethod
    def _warm(self, values: list[float]) -> None:
        """Learn one in-control observation."""

    @abc.abstractmethod
    def _calibrate(self) -> None:
        """The in-control phase is over: fix what the judging needs."""

    @abc.abstractmethod
    def _assess(self, values: list[float]) -> Assessment:
        """Judge one observation without changing any state."""

    @abc.abstractmethod
    def _model_state(self) -> dict[str, Any]:
        """Learned state of the model as JSON-able plain data."""

    @abc.abstractmethod
    def _set_model_state(self, state: Mapping[str, Any]) -> None:
        """Load what :meth:`_model_state` returned."""

    # -- judging ------------------------------------------------------------------------

    def _values(self, x: Observation) -> list[float]:
        try:
            values = list(map(float, self._getter(x)))
            # A finite sum is the common case's one check; inf or nan (or an overflowing
            # sum of finite values) goes through the exact per-value test.
            total = sum(values)
            if total - total == 0.0 or all(map(math.isfinite, values)):
                return values
        except (KeyError, TypeError, ValueError, IndexError):
            pass
        return self._explain(x)

    def _explain(self, x: Observation) -> list[float]:
        """The slow path of :meth:`_values`: say exactly what is wrong."""
        if not isinstance(x, Mapping):
            raise DetectorInputError(f"expected a mapping of {self._names}, got {x!r}")
        for name in self._names:
            if name not in x:
                raise DetectorInputError(f"missing parameter {name!r} (have {sorted(x)})")
            try:
                value = float(x[name])
            except (TypeError, ValueError):
                raise DetectorInputError(f"{name} must be a number, got {x[name]!r}") from None
            if not math.isfinite(value):
                raise DetectorInputError(f"{name} must be finite, got {value!r}")
        raise DetectorInputError(f"cannot read {x!r}")  # pragma: no cover

    def _step(self, ts: datetime, x: Observation, learn: bool) -> ModelEvaluation:
        values = self._values(x)
        index = self._seen
        if index < self.warmup:
            if learn:
                self._warm(values)
                self._seen += 1
                if self._seen == self.warmup:
                    self._calibrate()
            return ModelEvaluation(
                ts, self._label, index, 0.0, self._threshold, False, 0.0, {}, False
            )
        judged = self._assess(values)
        alarm = judged.score > self._threshold
        if learn:
            judged.commit(alarm)
            self._seen += 1
        contributions = dict(zip(self._names, judged.contributions, strict=True))
        return ModelEvaluation(
            ts,
            self._label,
            index,
            judged.score,
            self._threshold,
            alarm,
            judged.statistic,
            contributions,
        )

    def evaluate(self, ts: datetime, x: Observation) -> ModelEvaluation:
        """Judge ``x`` and learn from it (unless flagged): the full result, contributions too."""
        return self._step(ts, x, learn=True)

    def peek(self, ts: datetime, x: Observation) -> ModelEvaluation:
        """What :meth:`evaluate` would return for ``x``, without learning from it."""
        return self._step(ts, x, learn=False)

    def update(self, ts: datetime, x: Observation) -> Evaluation:
        return self._step(ts, x, learn=True).to_evaluation()

    def score(self, ts: datetime, x: Observation) -> Evaluation:
        return self._step(ts, x, learn=False).to_evaluation()

    def _get_state(self) -> dict[str, Any]:
        return {"seen": self._seen, "model": self._model_state()}

    def _set_state(self, state: Mapping[str, Any]) -> None:
        self._seen = int(state["seen"])
        self._set_model_state(state["model"])
