"""``make(name, **params)``: a streaming scorer for any series, one score in [0, 1] a point.

The scorer learns the number of columns from its first value (a float is one column) and
names them ``x0, x1, ...``; every later value must have as many. It then feeds a model
detector (:data:`~linewatch.detectors.ml.registry.MODEL_TYPES`) and returns its score:
0 during the warm-up, then ``1 - p-value`` style scores (see each detector) that exceed
``1 - target_far`` with probability about ``target_far`` in control. Nothing looks ahead:
the score of a point depends on it and on earlier points only, and ``seed`` fixes all
randomness (HST's trees).

Names: ``imr``, ``ewma``, ``cusum`` (SPC-style, one chart per column), ``t2`` (MEWMA with
lam = 1: Hotelling's T² on individual vectors), ``mewma``, ``pca``, ``hst`` and
``default``: the combination measured best by ``bench/bench_models.py`` (see DEFAULT).

>>> from datetime import datetime, timedelta, timezone
>>> t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
>>> scorer = make("imr", warmup=3)
>>> [round(scorer.update(t0 + timedelta(seconds=i), x), 4) for i, x in enumerate([9, 10, 11, 13])]
[0.0, 0.0, 0.0, 0.9973]
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from linewatch.detectors.base import DetectorInputError
from linewatch.detectors.ml.model import ModelDetector
from linewatch.detectors.ml.registry import MODEL_TYPES

__all__ = ["DEFAULT", "SCORER_NAMES", "Scorer", "make"]

#: The default scorer (measured best by bench/bench_models.py): MEWMA for small sustained
#: shifts and drifts plus Hotelling's T² on each vector for large shifts, variance increases
#: and correlation breaks, on one shared standardisation (EquipmentModel).
DEFAULT: dict[str, Any] = {"type": "equipment"}

_ALIASES: dict[str, dict[str, Any]] = {
    "default": DEFAULT,
    "t2": {"type": "mewma", "lam": 1.0},
}

#: Every name :func:`make` accepts.
SCORER_NAMES: tuple[str, ...] = tuple(sorted({*MODEL_TYPES, *_ALIASES} - {"combined", "equipment"}))


def _build(
    name: str, variables: tuple[str, ...], seed: int, params: Mapping[str, Any]
) -> ModelDetector:
    spec = dict(_ALIASES.get(name, {"type": name}))
    kind = spec.pop("type")
    spec.update(params)
    cls = MODEL_TYPES[kind]
    factory: Callable[..., ModelDetector] = cls
    accepted = inspect.signature(cls.__init__).parameters
    if "seed" in accepted and "seed" not in spec:
        spec["seed"] = seed
    if kind == "combined":
        spec["components"] = [
            {**c, "seed": seed} if c.get("type") == "hst" and "seed" not in c else c
            for c in spec["components"]
        ]
    unknown = sorted(set(spec) - set(accepted) - {"variables"})
    if unknown:
        raise ValueError(f"detector {name!r} takes no parameter(s) {', '.join(unknown)}")
    return factory(variables=variables, **spec)


class Scorer:
    """``update(ts, value) -> score``; see :func:`make`."""

    def __init__(self, name: str, seed: int = 0, **params: Any) -> None:
        if name not in SCORER_NAMES:
            raise ValueError(f"unknown detector {name!r}; choose from {', '.join(SCORER_NAMES)}")
        self.name = name
        self.seed = seed
        self.params = params
        self.detector: ModelDetector | None = None
        # Build one now so that bad parameters fail at construction, not at the first point.
        _build(name, ("x0",), seed, params)

    def update(self, ts: datetime, value: float | Sequence[float]) -> float:
        """The score of ``value`` (a float or a sequence of floats) given all before it."""
        values = [value] if isinstance(value, (int, float)) else list(value)
        if not values:
            raise DetectorInputError("no value")
        if self.detector is None:
            names = tuple(f"x{i}" for i in range(len(values)))
            self.detector = _build(self.name, names, self.seed, self.params)
        names = self.detector.variables
        if len(values) != len(names):
            raise DetectorInputError(f"expected {len(names)} value(s), got {len(values)}")
        return self.detector.evaluate(ts, dict(zip(names, values, strict=True))).score


def make(name: str = "default", **params: Any) -> Scorer:
    """A streaming scorer by name; ``seed`` and the detector's parameters as keywords."""
    seed = int(params.pop("seed", 0))
    return Scorer(name, seed=seed, **params)
