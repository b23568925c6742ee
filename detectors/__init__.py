"""Pure detectors: numbers in, plotted points and signals out. No I/O."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from linewatch.detectors.base import (
    Detector,
    DetectorInputError,
    Evaluation,
    PlotPoint,
    Signal,
    SnapshotError,
)

if TYPE_CHECKING:
    from linewatch.detectors.ml.scorer import Scorer

__all__ = [
    "Detector",
    "DetectorInputError",
    "Evaluation",
    "PlotPoint",
    "Signal",
    "SnapshotError",
    "make",
]


def make(name: str = "default", **params: Any) -> Scorer:
    """A streaming scorer: ``make(name, **params).update(ts, value) -> score in [0, 1]``.

    Imported lazily: the model detectors need the ``ml`` extra (river). See
    :mod:`linewatch.detectors.ml.scorer` for the names and the scores.
    """
    from linewatch.detectors.ml.scorer import make as make_scorer

    return make_scorer(name, **params)
