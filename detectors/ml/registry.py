"""Model detector types by name, as config and ``make`` spell them."""

from __future__ import annotations

from linewatch.detectors.ml.combined import Combined
from linewatch.detectors.ml.equipment import EquipmentModel
from linewatch.detectors.ml.hst import HSTDetector
from linewatch.detectors.ml.mewma import MEWMA
from linewatch.detectors.ml.model import ModelDetector
from linewatch.detectors.ml.pca import OnlinePCA
from linewatch.detectors.ml.univariate import CusumScore, EwmaScore, ShewhartScore

__all__ = ["MODEL_TYPES"]

#: name -> class; every class takes ``variables``, ``warmup`` and ``target_far``.
MODEL_TYPES: dict[str, type[ModelDetector]] = {
    "mewma": MEWMA,
    "pca": OnlinePCA,
    "hst": HSTDetector,
    "imr": ShewhartScore,
    "ewma": EwmaScore,
    "cusum": CusumScore,
    "combined": Combined,
    "equipment": EquipmentModel,
}
