"""Model-based detectors: equipment anomaly scores, defect prediction, forecasts.

Pure computation like the rest of ``detectors/``; the river-based parts need the ``ml``
extra (river). See each module for the statistics.
"""

from linewatch.detectors.ml.combined import Combined
from linewatch.detectors.ml.defect import DefectPredictor
from linewatch.detectors.ml.equipment import EquipmentModel
from linewatch.detectors.ml.forecast import (
    Forecast,
    HoltForecaster,
    PredictedCrossing,
    ProbabilityCusum,
    predict_crossing,
)
from linewatch.detectors.ml.hst import HSTDetector
from linewatch.detectors.ml.joiner import PartJoiner
from linewatch.detectors.ml.mewma import MEWMA
from linewatch.detectors.ml.model import Assessment, ModelDetector, bonferroni_score
from linewatch.detectors.ml.pca import OnlinePCA
from linewatch.detectors.ml.registry import MODEL_TYPES
from linewatch.detectors.ml.result import ModelEvaluation
from linewatch.detectors.ml.scorer import DEFAULT, SCORER_NAMES, Scorer, make
from linewatch.detectors.ml.standardize import OnlineMoments
from linewatch.detectors.ml.univariate import CusumScore, EwmaScore, ShewhartScore

__all__ = [
    "DEFAULT",
    "MEWMA",
    "MODEL_TYPES",
    "SCORER_NAMES",
    "Assessment",
    "Combined",
    "CusumScore",
    "DefectPredictor",
    "EquipmentModel",
    "EwmaScore",
    "Forecast",
    "HSTDetector",
    "HoltForecaster",
    "ModelDetector",
    "ModelEvaluation",
    "OnlineMoments",
    "OnlinePCA",
    "PartJoiner",
    "PredictedCrossing",
    "ProbabilityCusum",
    "Scorer",
    "ShewhartScore",
    "bonferroni_score",
    "make",
    "predict_crossing",
]
