"""Pure detectors: numbers in, plotted points and signals out. No I/O."""

from linewatch.detectors.base import (
    Detector,
    DetectorInputError,
    Evaluation,
    PlotPoint,
    Signal,
    SnapshotError,
)

__all__ = ["Detector", "DetectorInputError", "Evaluation", "PlotPoint", "Signal", "SnapshotError"]
