"""The line the simulator makes: stations, characteristics, parameters, defects, and checks.

These frozen dataclasses are the one definition of a simulated line. Python code builds
them directly (each checks itself in ``__post_init__``); the config's ``simulation:``
section is validated by pydantic straight into them: ``__pydantic_config__`` forbids
unknown keys and non-finite numbers, and the ``Annotated`` bounds of the fields are the
config's ranges. The same bounds are checked on direct construction (:func:`check_bounds`),
so a spec that Python accepts is one the config accepts, and the other way round.

>>> from pydantic import TypeAdapter
>>> TypeAdapter(CharacteristicSim).validate_python({"name": "gap", "mean": 1.2, "sigma": 0.05})
CharacteristicSim(name='gap', mean=1.2, sigma=0.05, subgroup_size=1)
>>> TypeAdapter(CharacteristicSim).validate_python({"name": "gap", "mean": 1, "sigma": 1,
...                                                 "sigma_": 2})  # doctest: +ELLIPSIS
Traceback (most recent call last):
pydantic_core._pydantic_core.ValidationError: 1 validation error for CharacteristicSim
sigma_
  Unexpected keyword argument ...
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

from annotated_types import Ge, Gt, Le, Lt
from pydantic import ConfigDict, Field
from pydantic.fields import FieldInfo

__all__ = [
    "COUNT_MAX",
    "MAX_DRIVEN_RATE",
    "NAME_MAX",
    "SIGMA_MIN",
    "SPEC_CONFIG",
    "VALUE_MAX",
    "WEEK_S",
    "YEAR_S",
    "CharacteristicSim",
    "DefectSim",
    "LineSim",
    "ParameterSim",
    "StationSim",
    "check_bounds",
    "check_name",
    "welding_line",
]

# -- ranges ------------------------------------------------------------------------------
# The numbers of linewatch.pipeline.strict (the config's ranges); connectors/ may not import
# it, so they are repeated here and tests/unit/test_simulator.py checks that they agree.
VALUE_MAX = 1e15
SIGMA_MIN = 1e-12
COUNT_MAX = 1_000_000
YEAR_S = 366 * 24 * 3600.0
WEEK_S = 7 * 24 * 3600.0
NAME_MAX = 200
#: A driven defect rate never exceeds this: a line scrapping more parts would be stopped.
MAX_DRIVEN_RATE = 0.5

_US_PER_S = 1_000_000

#: Unknown keys and NaN/infinity are errors when pydantic validates a spec (the config).
SPEC_CONFIG = ConfigDict(extra="forbid", allow_inf_nan=False)

Name = Annotated[str, Field(min_length=1, max_length=NAME_MAX, pattern=r"^[^/\s]+$")]
Value = Annotated[float, Field(ge=-VALUE_MAX, le=VALUE_MAX)]
Sigma = Annotated[float, Field(ge=SIGMA_MIN, le=VALUE_MAX)]
# d2, d3 of the range charts are tabulated up to 50
SubgroupSize = Annotated[int, Field(ge=1, le=50)]
Phi = Annotated[float, Field(gt=-1.0, lt=1.0)]
Rate = Annotated[float, Field(ge=0.0, le=1.0)]
Sensitivity = Annotated[float, Field(ge=-1e6, le=1e6)]
Lag = Annotated[float, Field(ge=0.0, le=YEAR_S)]
LotSize = Annotated[int, Field(ge=1, le=COUNT_MAX)]
Cycle = Annotated[float, Field(ge=0.001, le=WEEK_S)]
Gap = Annotated[float, Field(ge=0.0, le=WEEK_S)]
Jitter = Annotated[float, Field(ge=0.0, lt=1.0)]


def check_name(what: str, value: str) -> None:
    """Names are joined with ``/`` into targets and stream keys, so ``/`` would be ambiguous.

    >>> check_name("station name", "weld 2")
    Traceback (most recent call last):
    ValueError: station name must be non-empty, without '/' or whitespace, at most 200 \
characters, got 'weld 2'
    """
    if not value or len(value) > NAME_MAX or "/" in value or any(char.isspace() for char in value):
        raise ValueError(
            f"{what} must be non-empty, without '/' or whitespace, at most {NAME_MAX} "
            f"characters, got {value!r}"
        )


def _check_finite(what: str, value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value!r}")


def _check_unique(what: str, names: Sequence[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"duplicate {what} {name!r}")
        seen.add(name)


# -- bounds from the annotations ----------------------------------------------------------


def _constraints(annotation: Any) -> list[Any]:
    """The annotated-types bounds in an annotation (through ``Annotated`` and ``| None``)."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        base, *extra = typing.get_args(annotation)
        found = [m for e in extra for m in (e.metadata if isinstance(e, FieldInfo) else [e])]
        return [m for m in found if isinstance(m, Ge | Gt | Le | Lt)] + _constraints(base)
    if origin in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(annotation) for m in _constraints(arg)]
    return []


_Bounds = tuple[tuple[str, tuple[Any, ...]], ...]
_BOUNDS: dict[type, _Bounds] = {}


def _bounds_of(cls: type) -> _Bounds:
    """(field, its bounds) of a spec class, read from its annotations once."""
    found = _BOUNDS.get(cls)
    if found is None:
        hints = typing.get_type_hints(cls, include_extras=True)
        named = ((f.name, tuple(_constraints(hints[f.name]))) for f in dataclasses.fields(cls))
        found = _BOUNDS[cls] = tuple((name, bounds) for name, bounds in named if bounds)
    return found


def _number(bound: Any) -> str:
    value = float(bound)
    return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)


def check_bounds(spec: object, what: str) -> None:
    """Raise ValueError for a number field outside the bounds its annotation declares.

    >>> ParameterSim("welder-07", "tip_temp_c", mean=2e15, sigma=3.0)
    Traceback (most recent call last):
    ValueError: parameter welder-07/tip_temp_c: mean must be <= 1000000000000000, got 2000000000000000.0
    """
    for name, constraints in _bounds_of(type(spec)):
        value = getattr(spec, name)
        if value is None or isinstance(value, bool):
            continue
        for bound in constraints:
            if isinstance(bound, Ge) and not value >= bound.ge:
                problem = f">= {_number(bound.ge)}"
            elif isinstance(bound, Gt) and not value > bound.gt:
                problem = f"> {_number(bound.gt)}"
            elif isinstance(bound, Le) and not value <= bound.le:
                problem = f"<= {_number(bound.le)}"
            elif isinstance(bound, Lt) and not value < bound.lt:
                problem = f"< {_number(bound.lt)}"
            else:
                continue
            raise ValueError(f"{what}: {name} must be {problem}, got {value}")


# -- the specs ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CharacteristicSim:
    """A measured characteristic: one normal value per part, ``mean ± sigma``.

    Consecutive parts form rational subgroups of ``subgroup_size``, with ids ``SG-1``,
    ``SG-2``... (no id when the size is 1: an individuals chart needs none).

    >>> CharacteristicSim("nugget_dia_mm", mean=5.4, sigma=0.08, subgroup_size=5).sigma
    0.08
    >>> CharacteristicSim("gap", mean=1.0, sigma=0.0)
    Traceback (most recent call last):
    ValueError: characteristic 'gap': sigma must be positive, got 0.0
    """

    __pydantic_config__: ClassVar[ConfigDict] = SPEC_CONFIG

    name: Name
    mean: Value
    sigma: Sigma
    subgroup_size: SubgroupSize = 1

    def __post_init__(self) -> None:
        check_name("characteristic name", self.name)
        what = f"characteristic {self.name!r}"
        _check_finite(f"{what}: mean", self.mean)
        _check_finite(f"{what}: sigma", self.sigma)
        if self.sigma <= 0:
            raise ValueError(f"{what}: sigma must be positive, got {self.sigma}")
        if self.subgroup_size < 1:
            raise ValueError(f"{what}: subgroup_size must be at least 1, got {self.subgroup_size}")
        check_bounds(self, what)


@dataclass(frozen=True, slots=True)
class ParameterSim:
    """An equipment parameter read once per part: AR(1) around ``mean``.

    ``x_t - mean = phi * (x_{t-1} - mean) + e_t`` with the innovation sd chosen so that the
    stationary sd is ``sigma`` whatever ``phi`` (real sensors drift slowly: phi ~ 0.5-0.9).

    >>> ParameterSim("welder-07", "tip_temp_c", mean=410.0, sigma=3.0, phi=0.6).phi
    0.6
    """

    __pydantic_config__: ClassVar[ConfigDict] = SPEC_CONFIG

    equipment: Name
    name: Name
    mean: Value
    sigma: Sigma
    phi: Phi = 0.0

    def __post_init__(self) -> None:
        check_name("equipment name", self.equipment)
        check_name("parameter name", self.name)
        what = f"parameter {self.equipment}/{self.name}"
        _check_finite(f"{what}: mean", self.mean)
        _check_finite(f"{what}: sigma", self.sigma)
        if self.sigma <= 0:
            raise ValueError(f"{what}: sigma must be positive, got {self.sigma}")
        if not -1.0 < self.phi < 1.0:
            raise ValueError(f"{what}: phi must be in (-1, 1) to be stationary, got {self.phi}")
        check_bounds(self, what)


@dataclass(frozen=True, slots=True)
class DefectSim:
    """A defect each part has with some probability, optionally driven by a parameter.

    ``driver`` is ``"station/equipment/name"``. With ``z`` the driver's standardised
    excursion ``(x - mean) / sigma`` as read ``lag_s`` seconds before the part is
    inspected (the latest reading at or before then; 0 before any), the probability is

        p = base_rate                                    if z <= 1
        p = min(0.5, base_rate * exp(sensitivity * (z - 1)))  otherwise

    Excursions within one sigma are the normal process and change nothing; only the
    upward side drives (a hot electrode tip makes porosity, a cool one does not); the 0.5
    cap (:data:`MAX_DRIVEN_RATE`) keeps ``p`` a probability and the line plausible (a base
    rate above 0.5 is kept). ``reworkable``: a failed part whose defects are all
    reworkable is marked ``rework=True`` (it is repaired, not scrapped).

    >>> DefectSim("porosity", 0.005, driver="weld-2/welder-07/tip_temp_c",
    ...           sensitivity=1.5, lag_s=300).lag_s
    300
    >>> DefectSim("crack", 1.5)
    Traceback (most recent call last):
    ValueError: defect 'crack': base_rate must be in [0, 1], got 1.5
    """

    __pydantic_config__: ClassVar[ConfigDict] = SPEC_CONFIG

    code: Name
    base_rate: Rate
    driver: str | None = None
    sensitivity: Sensitivity = 0.0
    lag_s: Lag = 0.0
    reworkable: bool = False

    def __post_init__(self) -> None:
        check_name("defect code", self.code)
        what = f"defect {self.code!r}"
        if not 0.0 <= self.base_rate <= 1.0:  # also rejects NaN
            raise ValueError(f"{what}: base_rate must be in [0, 1], got {self.base_rate}")
        _check_finite(f"{what}: sensitivity", self.sensitivity)
        if not (math.isfinite(self.lag_s) and self.lag_s >= 0):
            raise ValueError(f"{what}: lag_s must be >= 0, got {self.lag_s}")
        if self.driver is not None and (
            len(parts := self.driver.split("/")) != 3 or not all(parts)
        ):
            raise ValueError(
                f"{what}: driver must be 'station/equipment/name', got {self.driver!r}"
            )
        check_bounds(self, what)


@dataclass(frozen=True, slots=True)
class StationSim:
    """A station: its characteristics, equipment parameters and inspection.

    ``inspects``: one :class:`~linewatch.pipeline.models.Inspection` per part, ``fail``
    when it has any defect. ``lot_size``: also one
    :class:`~linewatch.pipeline.models.Attribute` per defect code every ``lot_size`` parts
    (``inspected=lot_size``, ``nonconforming`` = parts of the lot with that defect); a
    partial lot at the end of the run is not reported. Lists are accepted and stored as
    tuples.

    >>> StationSim("trim", characteristics=[CharacteristicSim("gap", 1.2, 0.05)]).characteristics
    (CharacteristicSim(name='gap', mean=1.2, sigma=0.05, subgroup_size=1),)
    """

    __pydantic_config__: ClassVar[ConfigDict] = SPEC_CONFIG

    name: Name
    characteristics: tuple[CharacteristicSim, ...] = ()
    parameters: tuple[ParameterSim, ...] = ()
    inspects: bool = False
    defects: tuple[DefectSim, ...] = ()
    lot_size: LotSize | None = None

    def __post_init__(self) -> None:
        check_name("station name", self.name)
        # A caller may hand over lists; tuples keep the spec hashable and frozen.
        for field_name in ("characteristics", "parameters", "defects"):
            object.__setattr__(self, field_name, tuple(getattr(self, field_name)))
        where = f"station {self.name!r}"
        _check_unique(f"characteristic at {where}:", [c.name for c in self.characteristics])
        _check_unique(
            f"parameter at {where}:", [f"{p.equipment}/{p.name}" for p in self.parameters]
        )
        _check_unique(f"defect code at {where}:", [d.code for d in self.defects])
        if self.lot_size is not None and self.lot_size < 1:
            raise ValueError(f"{where}: lot_size must be at least 1, got {self.lot_size}")
        check_bounds(self, where)


@dataclass(frozen=True, slots=True)
class LineSim:
    """A line: one part every ``cycle_s`` seconds flows through ``stations`` in order.

    ``station_gap_s``: a part reaches each station this long after the previous one;
    ``jitter_frac``: each part enters up to this fraction of a cycle late, uniformly
    (below 1 so parts never overtake each other). Every defect ``driver`` must be a
    parameter of the line.

    >>> line = LineSim("L1", (StationSim("s1", (CharacteristicSim("d", 1.0, 0.1),)),))
    >>> line.targets()
    ('s1/d',)
    >>> LineSim("L1", (StationSim("s1", defects=(DefectSim("x", 0.1, driver="s1/e/t"),)),))
    Traceback (most recent call last):
    ValueError: line 'L1': defect 'x' at station 's1' has driver 's1/e/t', which is not a \
parameter of the line (parameters: none)
    """

    __pydantic_config__: ClassVar[ConfigDict] = SPEC_CONFIG

    line: Name
    stations: tuple[StationSim, ...]
    cycle_s: Cycle = 30.0
    station_gap_s: Gap = 5.0
    jitter_frac: Jitter = 0.05

    def __post_init__(self) -> None:
        check_name("line name", self.line)
        object.__setattr__(self, "stations", tuple(self.stations))
        where = f"line {self.line!r}"
        if not self.stations:
            raise ValueError(f"{where}: needs at least one station")
        _check_unique(f"station in {where}:", [s.name for s in self.stations])
        if not (math.isfinite(self.cycle_s) and self.cycle_s > 0):
            raise ValueError(f"{where}: cycle_s must be positive, got {self.cycle_s}")
        if not (math.isfinite(self.station_gap_s) and self.station_gap_s >= 0):
            raise ValueError(f"{where}: station_gap_s must be >= 0, got {self.station_gap_s}")
        if not 0.0 <= self.jitter_frac < 1.0:
            raise ValueError(f"{where}: jitter_frac must be in [0, 1), got {self.jitter_frac}")
        if round(self.cycle_s * _US_PER_S) < 1:
            raise ValueError(f"{where}: cycle_s must be at least 1 µs, got {self.cycle_s}")
        check_bounds(self, where)
        parameters = self.parameter_targets()
        for station in self.stations:
            for defect in station.defects:
                if defect.driver is not None and defect.driver not in parameters:
                    raise ValueError(
                        f"{where}: defect {defect.code!r} at station {station.name!r} has "
                        f"driver {defect.driver!r}, which is not a parameter of the line "
                        f"(parameters: {', '.join(parameters) or 'none'})"
                    )

    def parameter_targets(self) -> tuple[str, ...]:
        """``station/equipment/name`` of every parameter, in line order."""
        return tuple(
            f"{s.name}/{p.equipment}/{p.name}" for s in self.stations for p in s.parameters
        )

    def targets(self) -> tuple[str, ...]:
        """Every fault target: ``station/characteristic`` then ``station/equipment/name``."""
        characteristics = tuple(
            f"{s.name}/{c.name}" for s in self.stations for c in s.characteristics
        )
        return characteristics + self.parameter_targets()

    def drivers(self) -> dict[str, tuple[str, ...]]:
        """Each driving parameter and the ``station/code`` of the defects it drives.

        The cause-and-effect ground truth: what a root-cause ranking or a defect
        predictor should find.

        >>> welding_line().drivers()
        {'weld-2/welder-07/tip_temp_c': ('final/porosity',)}
        """
        found: dict[str, list[str]] = {}
        for station in self.stations:
            for defect in station.defects:
                if defect.driver is not None:
                    found.setdefault(defect.driver, []).append(f"{station.name}/{defect.code}")
        return {driver: tuple(defects) for driver, defects in found.items()}


# -- the default line ----------------------------------------------------------------------


def welding_line() -> LineSim:
    """Line ``L3``: spot welding (``weld-2``), trimming (``trim``) and final inspection.

    Porosity at ``final`` follows the electrode tip temperature at ``weld-2`` five minutes
    earlier (it takes that long for a part to reach final inspection in a real plant);
    spatter is ground off (reworkable); cracks are rare.

    >>> line = welding_line()
    >>> [s.name for s in line.stations], line.cycle_s
    (['weld-2', 'trim', 'final'], 30.0)
    >>> line.targets()  # doctest: +NORMALIZE_WHITESPACE
    ('weld-2/nugget_dia_mm', 'trim/flange_gap_mm', 'trim/trim_length_mm',
     'weld-2/welder-07/tip_temp_c', 'weld-2/welder-07/weld_current_ka',
     'weld-2/welder-07/electrode_force_kn', 'trim/trim-press-03/hydraulic_pressure_bar')
    """
    weld = StationSim(
        "weld-2",
        characteristics=(CharacteristicSim("nugget_dia_mm", 5.4, 0.08, subgroup_size=5),),
        parameters=(
            ParameterSim("welder-07", "tip_temp_c", 410.0, 3.0, phi=0.6),
            ParameterSim("welder-07", "weld_current_ka", 9.5, 0.15, phi=0.3),
            ParameterSim("welder-07", "electrode_force_kn", 3.2, 0.05, phi=0.2),
        ),
    )
    trim = StationSim(
        "trim",
        characteristics=(
            CharacteristicSim("flange_gap_mm", 1.2, 0.05, subgroup_size=5),
            CharacteristicSim("trim_length_mm", 250.0, 0.2),
        ),
        parameters=(ParameterSim("trim-press-03", "hydraulic_pressure_bar", 180.0, 2.0, phi=0.5),),
    )
    final = StationSim(
        "final",
        inspects=True,
        defects=(
            DefectSim(
                "porosity",
                0.005,
                driver="weld-2/welder-07/tip_temp_c",
                sensitivity=1.5,
                lag_s=300.0,
            ),
            DefectSim("spatter", 0.01, reworkable=True),
            DefectSim("crack", 0.0005),
        ),
        lot_size=50,
    )
    return LineSim("L3", (weld, trim, final), cycle_s=30.0)
