"""The ``models:`` section of a station: equipment models, defect predictors, forecasts.

Mounted on :class:`~linewatch.pipeline.config.StationConfig` as ``models``. Three kinds,
told apart by ``type``:

* an **equipment model** (``type`` one of :data:`~linewatch.detectors.ml.MODEL_TYPES`)
  scores the vector of ``variables`` (``equipment/name`` parameters of the station, or the
  name of one of its ``multivariate`` groups) once per part;
* a **defect predictor** (``type: defect_predictor``) learns P(defect | ``features``) from
  the inspections at ``target.station`` of the same line, joined to this station's
  parameters by ``part_id`` or by time (``join``), and raises the predictive alert
  ``forecast:defect_p`` when the mean predicted probability rises (a CUSUM);
* a **forecast** (``type: forecast``) forecasts a chart's statistic or a defect rate of this
  station ``horizon`` points ahead and raises ``forecast`` when the band crosses a limit.

>>> from pydantic import TypeAdapter
>>> adapter = TypeAdapter(ModelConfig)
>>> adapter.validate_python({"type": "mewma", "name": "w", "variables": ["e/a", "e/b"]}).warmup
200
>>> adapter.validate_python({"type": "forecast", "name": "f",
...     "target": {"defect_codes": ["porosity"]}, "upper": 0.05}).horizon
10
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag

from linewatch.pipeline.strict import COUNT_MAX, YEAR_S, Alpha, Seconds, Strict, Value

__all__ = [
    "CusumAlertConfig",
    "DefectPredictorConfig",
    "DefectTarget",
    "EquipmentModelConfig",
    "ForecastConfig",
    "ForecastTarget",
    "JoinConfig",
    "ModelConfig",
    "model_names",
]

ModelName = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^/\s]+$")]
#: ``equipment/name`` of a parameter, or a multivariate group's name.
VariableName = Annotated[str, Field(min_length=1, max_length=401, pattern=r"^[^\s]+$")]
ParameterName = Annotated[str, Field(pattern=r"^[^/\s]+/[^/\s]+$", max_length=401)]
SeverityName = Literal["critical", "warning", "info"]
Warmup = Annotated[int, Field(ge=2, le=COUNT_MAX)]
TopN = Annotated[int, Field(ge=1, le=100)]
#: The names of :data:`~linewatch.detectors.ml.MODEL_TYPES` (a test keeps them equal).
EquipmentType = Literal["mewma", "pca", "hst", "imr", "ewma", "cusum", "combined", "equipment"]


class EquipmentModelConfig(Strict):
    """An online anomaly model over a station's equipment parameters, one vector a part."""

    type: EquipmentType
    name: ModelName
    variables: list[VariableName] = Field(min_length=1, max_length=100)
    params: dict[Annotated[str, Field(min_length=1, max_length=100)], Value] = Field(
        default_factory=dict
    )
    warmup: Warmup = 200
    target_far: Alpha = 0.0027
    severity: SeverityName = "warning"
    #: Contributions carried on ``model_score`` and in the alert message.
    top: TopN = 3


class JoinConfig(Strict):
    """How an inspection finds the parameters that made its part.

    ``part_id``: the parameters recorded with the same part id. ``window``: this station's
    latest parameters at or before ``inspection ts - lag_s``, no older than ``window_s``
    before that (for records without part ids, or a cause that acts with a delay).
    """

    by: Literal["part_id", "window"] = "part_id"
    lag_s: Seconds = 0.0
    window_s: Annotated[float, Field(ge=0.001, le=YEAR_S)] = 60.0
    max_parts: Annotated[int, Field(ge=1, le=COUNT_MAX)] = 10_000
    max_samples: Annotated[int, Field(ge=1, le=COUNT_MAX)] = 2_000


class DefectTarget(Strict):
    """The inspections a predictor learns from: a station of the same line, defect codes."""

    station: ModelName
    #: A part is defective if it has one of these codes (empty: any failed part).
    codes: list[ModelName] = Field(default_factory=list, max_length=100)


class CusumAlertConfig(Strict):
    """The predictive alert on the mean predicted P(defect): a one-sided CUSUM."""

    #: Predictions that set the in-control level (after the predictor's own warm-up).
    warmup: Warmup = 300
    k: Annotated[float, Field(ge=0.0, le=10.0)] = 0.5
    h: Annotated[float, Field(gt=0.0, le=1000.0)] = 8.0


class DefectPredictorConfig(Strict):
    """P(defect at ``target``) from this station's ``features``, learned online."""

    type: Literal["defect_predictor"]
    name: ModelName
    features: list[ParameterName] = Field(min_length=1, max_length=100)
    target: DefectTarget
    join: JoinConfig = Field(default_factory=JoinConfig)
    lr: Annotated[float, Field(gt=0.0, le=10.0)] = 0.05
    l2: Annotated[float, Field(ge=0.0, le=10.0)] = 0.0
    #: Labelled parts learned before predictions count (for the CUSUM and the KPIs).
    warmup: Warmup = 500
    cusum: CusumAlertConfig = Field(default_factory=CusumAlertConfig)
    #: A KPI (auc, log_loss) every this many labelled parts.
    kpi_every: Annotated[int, Field(ge=1, le=COUNT_MAX)] = 100
    severity: SeverityName = "warning"


class ForecastTarget(Strict):
    """What is forecast: one chart's statistic, or a rolling defect rate of this station."""

    #: A characteristic of this station: the statistic of its first (location) chart.
    characteristic: ModelName | None = None
    #: The rate of parts with one of these codes (``[]`` with ``defect_rate``: any defect).
    defect_codes: list[ModelName] | None = None
    window_parts: Annotated[int, Field(ge=1, le=COUNT_MAX)] = 200
    every_parts: Annotated[int, Field(ge=1, le=COUNT_MAX)] = 10
    _checks = ("_one_target",)

    def _one_target(self) -> Iterator[str]:
        if (self.characteristic is None) == (self.defect_codes is None):
            yield "forecast target needs exactly one of characteristic or defect_codes"


class ForecastConfig(Strict):
    """Holt's linear trend forecast with a band; alert when the band crosses a limit."""

    type: Literal["forecast"]
    name: ModelName
    target: ForecastTarget
    horizon: Annotated[int, Field(ge=1, le=10_000)] = 10
    coverage: Annotated[float, Field(ge=0.5, le=0.999999)] = 0.95
    alpha: Annotated[float, Field(gt=0.0, le=1.0)] = 0.3
    beta: Annotated[float, Field(ge=0.0, le=1.0)] = 0.1
    #: Points learned before the forecast may alert.
    warmup: Warmup = 20
    #: The limits: a characteristic of this station whose chart limits apply, else these.
    limits_from: ModelName | None = None
    lower: Value | None = None
    upper: Value | None = None
    severity: SeverityName = "warning"
    _checks = ("_has_limits",)

    def _has_limits(self) -> Iterator[str]:
        target = self.target
        unlimited = self.limits_from is None and self.lower is None and self.upper is None
        if unlimited and getattr(target, "characteristic", None) is None:
            yield "a defect-rate forecast needs limits_from, lower or upper"
        if self.lower is not None and self.upper is not None and self.lower >= self.upper:
            yield f"lower ({self.lower}) must be below upper ({self.upper})"


def _model_type(value: Any) -> str:
    kind = value.get("type") if isinstance(value, Mapping) else getattr(value, "type", None)
    if kind in ("defect_predictor", "forecast"):
        return str(kind)
    return "equipment"


ModelConfig = Annotated[
    Annotated[EquipmentModelConfig, Tag("equipment")]
    | Annotated[DefectPredictorConfig, Tag("defect_predictor")]
    | Annotated[ForecastConfig, Tag("forecast")],
    Discriminator(_model_type),
]


def model_names(models: list[Any]) -> list[str]:
    """Names of the models (those whose name is valid)."""
    return [m.name for m in models if isinstance(getattr(m, "name", None), str)]
