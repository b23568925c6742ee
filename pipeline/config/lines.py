"""Lines and their stations: what each station charts and how its KPIs roll."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from pydantic import (
    Field,
)

from linewatch.pipeline.config.charts import (
    CharacteristicConfig,
    Identifier,
    MultivariateConfig,
    ParameterConfig,
)
from linewatch.pipeline.model_config import ModelConfig
from linewatch.pipeline.strict import (
    YEAR_S,
    duplicates,
    names_of,
)
from linewatch.pipeline.strict import Strict as _Strict

__all__ = [
    "LineConfig",
    "StationConfig",
]


class StationConfig(_Strict):
    name: Identifier
    characteristics: list[CharacteristicConfig] = Field(default_factory=list)
    parameters: list[ParameterConfig] = Field(default_factory=list)
    multivariate: list[MultivariateConfig] = Field(default_factory=list)
    models: list[ModelConfig] = Field(default_factory=list)  # pipeline/model_config.py
    kpi_window_s: Annotated[float, Field(ge=1.0, le=YEAR_S)] = 3600.0
    kpi_every_s: Annotated[float, Field(ge=1.0, le=YEAR_S)] = 900.0
    _checks = ("_unique_characteristics", "_unique_parameters", "_unique_group_members")

    def _unique_characteristics(self) -> Iterator[str]:
        characteristics = names_of(self.characteristics, "name")
        yield from duplicates(characteristics, "characteristic")
        yield from duplicates(
            characteristics + names_of(self.multivariate, "name"),
            "characteristic or multivariate group",
            skip_first=len(characteristics),
        )

    def _unique_parameters(self) -> Iterator[str]:
        yield from duplicates(names_of(self.parameters, "equipment", "name"), "parameter")

    def _unique_group_members(self) -> Iterator[str]:
        for group in self.multivariate:
            yield from duplicates(
                getattr(group, "parameters", []),
                f"parameter in multivariate group {getattr(group, 'name', '?')!r}",
            )


class LineConfig(_Strict):
    name: Identifier
    stations: list[StationConfig]
    _checks = ("_unique_stations",)

    def _unique_stations(self) -> Iterator[str]:
        yield from duplicates(names_of(self.stations, "name"), "station")
