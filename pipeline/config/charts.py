"""What a charted stream is configured with: chart (by the registry), rules, limits.

The ``chart`` names are validated against the chart registry
(:mod:`linewatch.detectors.registry`); a chart's own settings are the section named after it
(``cusum:``, ``ewma:``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    ConfigDict,
    Field,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from pydantic_core import PydanticCustomError

from linewatch.detectors.registry import ChartInfo, chart_info, chart_names, charts
from linewatch.detectors.spc.rules import RuleSet
from linewatch.pipeline.config.runtime import SeverityName
from linewatch.pipeline.strict import (
    COUNT_MAX,
    Alpha,
    Count,
    Sigma,
    Value,
)
from linewatch.pipeline.strict import Strict as _Strict

__all__ = [
    "CapabilityConfig",
    "CharacteristicChart",
    "CharacteristicConfig",
    "Convention",
    "CusumConfig",
    "EwmaConfig",
    "FrozenLimits",
    "Identifier",
    "MultivariateConfig",
    "ParameterChart",
    "ParameterConfig",
    "PlausibleRange",
    "RulesConfig",
    "RulesSpec",
]


Identifier = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^/\s]+$")]
#: Whose numbers the charts reproduce (``detectors/spc/conventions.py``).
Convention = Literal["minitab", "qcc"]


def _one_of(names: Sequence[str]) -> str:
    quoted = [repr(n) for n in names]
    return ", ".join(quoted[:-1]) + " or " + quoted[-1] if len(quoted) > 1 else "".join(quoted)


def _chart_for(stream: Literal["characteristics", "parameters"]) -> Callable[[str], str]:
    def check(name: str) -> str:
        names = chart_names(stream)
        if name not in names:
            # the registry decides; the message reads as pydantic's own for a Literal
            raise PydanticCustomError("literal_error", "Input should be " + _one_of(names))
        return name

    return check


#: A chart name a characteristic may use (any registered chart but T² and capability).
CharacteristicChart = Annotated[str, AfterValidator(_chart_for("characteristics"))]
#: A chart name a parameter may use (charts of plain values).
ParameterChart = Annotated[str, AfterValidator(_chart_for("parameters"))]


def _rules(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """Rule text as :meth:`RuleSet.parse` reads it (``we``, ``1,2,5;2=8``), or a mapping."""
    if isinstance(value, str):
        try:
            RuleSet.parse(value)
        except ValueError as exc:
            # "rules 'x': expected ..."; the path and the (got 'x') come with the error
            raise PydanticCustomError("value_error", str(exc).partition(": ")[2]) from None
        return value
    return RulesConfig.model_validate(value)


def _attribute_charts() -> list[str]:
    return [c.name for c in charts() if c.takes == "counts"]


def _chart(spec: Any) -> ChartInfo | None:
    """The registry entry of a stream spec's chart (``None`` while the chart is bad)."""
    try:
        return chart_info(spec.chart)
    except KeyError:
        return None


class RulesConfig(_Strict):
    """Which Nelson tests run (1-8), and their K where it differs from Minitab's default."""

    tests: list[Annotated[int, Field(ge=1, le=8)]]
    # test 1's K is in sigmas; the others count points in a row
    k: dict[Annotated[int, Field(ge=1, le=8)], Annotated[float, Field(gt=0.0, le=1000.0)]] = Field(
        default_factory=dict
    )
    _checks = ("_whole_counts",)

    def _whole_counts(self) -> Iterator[str]:
        for test, value in self.k.items():
            if test != 1 and value != int(value):
                yield f"k of test {test} counts points: a whole number, got {value}"


RulesSpec = Annotated[str | RulesConfig, WrapValidator(_rules)]


class FrozenLimits(_Strict):
    """Limits given instead of estimated: the chart starts in phase II.

    ``center``/``sigma`` are the process mean and sigma for variables charts (the target
    and sigma for CUSUM/EWMA); for attribute charts ``center`` is p-bar (p, np, Laney p')
    or the mean count per unit (c, u, Laney u') and ``sigma`` is not used. Records older
    than ``effective_from`` are not charted against them (see the README).
    """

    center: Value
    sigma: Sigma | None = None
    effective_from: AwareDatetime | None = None


class CusumConfig(_Strict):
    """Reference value k and decision interval h, both in sigmas."""

    k: Annotated[float, Field(ge=0.0, le=10.0)] = 0.5
    h: Annotated[float, Field(gt=0.0, le=100.0)] = 5.0
    headstart: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0


class EwmaConfig(_Strict):
    lam: Annotated[float, Field(ge=0.001, le=1.0, alias="lambda")] = 0.2
    L: Annotated[float, Field(gt=0.0, le=10.0)] = 3.0

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )


class CapabilityConfig(_Strict):
    """Rolling capability (Cp, Cpk, Pp, Ppk) over tumbling windows, emitted as KPIs."""

    window: Annotated[int, Field(ge=3, le=COUNT_MAX)] = 100
    alpha: Alpha = 0.05


class PlausibleRange(_Strict):
    """Values outside ``[min, max]`` are dead letters (``implausible value``), never charted."""

    min: Value
    max: Value

    _checks = ("_ordered",)

    def _ordered(self) -> Iterator[str]:
        if self.min >= self.max:
            yield f"plausible min ({self.min}) must be below max ({self.max})"


class _Charted(_Strict):
    """What every charted stream shares: limits, rules, sigma estimation, chart options."""

    # d2, d3 (range charts) are tabulated up to 50
    subgroup_size: Annotated[int, Field(ge=1, le=50)] = 1
    phase1: Annotated[int, Field(ge=2, le=COUNT_MAX)] = 25
    phase1_passes: Annotated[int, Field(ge=0, le=10)] = 0
    sigma: str | None = None
    # minitab or qcc defaults (detectors/spc/conventions.py); None: the config's global one
    conventions: Convention | None = None
    k_sigma: Annotated[float, Field(gt=0.0, le=10.0)] = 3.0
    rules: RulesSpec = "test1"
    dispersion_rules: RulesSpec = "test1"
    limits: FrozenLimits | None = None
    cusum: CusumConfig = Field(default_factory=CusumConfig)
    ewma: EwmaConfig = Field(default_factory=EwmaConfig)
    unit: str = ""
    # The value guard (pipeline/engine.py): a hard range, and a bound in sigmas of the
    # established process (null: off). Far above any chart's limits: it is for garbage.
    plausible: PlausibleRange | None = None
    implausible_sigma: Annotated[float, Field(ge=6.0, le=1e6)] | None = 50.0
    # Alerts of this stream (pipeline/alerts.py, pipeline/spec_alerts.py); null: the
    # ``alerting`` section's. ``spec_severity`` is that of the ``spec`` alert (lsl/usl).
    severity: SeverityName | None = None
    spec_severity: SeverityName | None = None
    resolve_after_points: Count | None = None
    # Specification limits (characteristics) or the process window (parameters): a value
    # outside them fires a ``spec`` alert, whatever the control limits say.
    lsl: Value | None = None
    usl: Value | None = None

    def _window_ordered(self) -> Iterator[str]:
        if self.lsl is not None and self.usl is not None and self.lsl >= self.usl:
            yield f"lsl ({self.lsl}) must be below usl ({self.usl})"

    def _subgroup_fits_chart(self) -> Iterator[str]:
        info = _chart(self)
        if info is None:
            return
        if info.takes == "subgroup" and self.subgroup_size < 2:
            yield f"chart {info.name!r} needs subgroup_size of at least 2"
        if info.takes in ("value", "parts") and self.subgroup_size != 1:
            yield f"chart {info.name!r} charts individual values: subgroup_size 1"

    def _sigma_fits_chart(self) -> Iterator[str]:
        info = _chart(self)
        if info is None:
            return
        methods = info.sigma_methods
        if self.sigma is not None and self.sigma not in methods:
            expected = ", ".join(sorted(methods)) or "none (this chart has no sigma estimator)"
            yield f"sigma {self.sigma!r} does not fit chart {info.name!r}: use {expected}"


class CharacteristicConfig(_Charted):
    """One measured quality characteristic and how it is charted."""

    name: Identifier
    chart: CharacteristicChart = "imr"
    target: Value | None = None
    capability: CapabilityConfig | None = None
    parts: dict[str, FrozenLimits] = Field(default_factory=dict)
    _checks = (
        "_window_ordered",
        "_specs_ordered",
        "_capability_has_specs",
        "_parts_fit_chart",
        "_subgroup_fits_chart",
        "_sigma_fits_chart",
    )

    def _specs_ordered(self) -> Iterator[str]:
        if self.target is not None:
            if self.lsl is not None and self.target < self.lsl:
                yield f"target ({self.target}) is below lsl ({self.lsl})"
            if self.usl is not None and self.target > self.usl:
                yield f"target ({self.target}) is above usl ({self.usl})"

    def _capability_has_specs(self) -> Iterator[str]:
        if self.capability is not None and self.lsl is None and self.usl is None:
            yield "capability needs lsl or usl"

    def _plausible_fits_chart(self) -> Iterator[str]:
        if self.plausible is not None and self.chart in _attribute_charts():
            yield f"plausible applies to measured values, not to chart {self.chart!r}"

    def _parts_fit_chart(self) -> Iterator[str]:
        info = _chart(self)
        if self.parts and info is not None and info.takes != "parts":
            names = [c.name for c in charts() if c.takes == "parts"]
            yield f"parts (per-part target and sigma) go with chart {_one_of(names)}"


class ParameterConfig(_Charted):
    """An equipment parameter and the chart that watches it."""

    equipment: Identifier
    name: Identifier
    chart: ParameterChart = "imr"
    phase1: Annotated[int, Field(ge=2, le=COUNT_MAX)] = 50
    _checks = ("_window_ordered", "_subgroup_fits_chart", "_sigma_fits_chart")


class MultivariateConfig(_Strict):
    """Hotelling T² over a vector of a station's equipment parameters, one vector per part."""

    name: Identifier
    parameters: list[Annotated[str, Field(pattern=r"^[^/\s]+/[^/\s]+$")]] = Field(
        min_length=2, max_length=100
    )
    phase1: Annotated[int, Field(ge=3, le=COUNT_MAX)] = 50
    alpha: Alpha = 0.0027
    phase1_passes: Annotated[int, Field(ge=0, le=10)] = 0
    _checks = ("_enough_phase1",)

    def _enough_phase1(self) -> Iterator[str]:
        if self.phase1 < len(self.parameters) + 2:
            yield (
                f"phase1 must be at least parameters + 2 = "
                f"{len(self.parameters) + 2}, got {self.phase1}"
            )
