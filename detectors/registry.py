"""The one list of charts: each chart module registers its chart here, in one call.

An entry says everything the rest of Linewatch derives from a chart: its name (the
config's ``chart:`` value and ``analyze --chart``), its kind, its class, what one
observation is (``takes``), the sigma methods it knows, its chart-specific options (the
``analyze`` flags; in a config, the section named after the chart, e.g. ``cusum:``),
and a one-line description (the README's chart table). The config's chart names,
``analyze``'s choices and flags, the pipeline's factory, the engine's routing and the
generic detector checks all read this list, so adding a chart is its own module plus
one :func:`register_chart` line.

>>> from linewatch.detectors.registry import ChartSettings, chart_info, chart_names
>>> info = chart_info("cusum")
>>> info.kind, info.takes, info.cls.__name__
('time-weighted', 'values', 'CusumChart')
>>> info.build(ChartSettings(phase1=20, options={"h": 4.0}))
CusumChart(phase1=20, k=0.5, h=4.0, target=None, sigma=None, headstart=0.0, reset_on_signal=False, sigma_method=None)
>>> "imr" in chart_names("characteristics") and "t2" not in chart_names("characteristics")
True
>>> chart_info("imx")
Traceback (most recent call last):
...
KeyError: "unknown chart 'imx'; choose from imr, xbar-r, xbar-s, p, np, c, u, laney-p, laney-u, cusum, ewma, zmr, g, t, t2, capability, ar1"
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from linewatch.detectors.base import Detector

if TYPE_CHECKING:  # the chart modules import this one; it must not import them
    from linewatch.detectors.spc.rules import RuleSet

__all__ = [
    "ChartInfo",
    "ChartKind",
    "ChartOption",
    "ChartSettings",
    "Takes",
    "build_from_settings",
    "chart_info",
    "chart_names",
    "chart_of_class",
    "charts",
    "register_chart",
    "unregister_chart",
]

ChartKind = Literal["variables", "attribute", "time-weighted", "multivariate", "capability"]
#: What one observation is: ``value`` one number; ``subgroup`` a list of numbers;
#: ``values`` either; ``counts`` named counts (``columns``, e.g. count and size);
#: ``parts`` a value with its part number; ``vector`` named values (T²).
Takes = Literal["value", "subgroup", "values", "counts", "parts", "vector"]
#: Which config lists may name a chart.
StreamList = Literal["characteristics", "parameters"]


@dataclass(frozen=True, slots=True)
class ChartOption:
    """A chart-specific setting: an ``analyze`` flag and a key of the chart's config section."""

    name: str
    default: float | bool | None
    help: str
    flag: str = ""  # the analyze flag; default ``--name`` with dashes

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")


@dataclass(frozen=True, slots=True)
class ChartSettings:
    """What any chart is built from; ``None`` leaves the chart's own default.

    The pipeline fills it from a stream's config, ``analyze`` from its arguments.
    ``options`` holds the chart-specific settings (by constructor keyword).
    """

    phase1: int | None = None
    k_sigma: float | None = None
    sigma_method: str | None = None
    center: float | None = None
    sigma: float | None = None
    rules: RuleSet | None = None
    dispersion_rules: RuleSet | None = None
    phase1_passes: int | None = None
    constants: str | None = None
    #: ``minitab`` or ``qcc`` (see ``detectors/spc/conventions.py``); None: minitab.
    convention: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


def build_from_settings(cls: type[Detector], settings: ChartSettings) -> Detector:
    """``cls`` built with the settings its constructor takes (by keyword).

    A chart whose constructor calls the center ``target`` (CUSUM, EWMA) gets the center
    there unless a ``target`` option is given.
    """
    accepted = inspect.signature(cls.__init__).parameters
    given: dict[str, Any] = {
        name: getattr(settings, name)
        for name in (
            "phase1",
            "k_sigma",
            "sigma_method",
            "center",
            "sigma",
            "rules",
            "dispersion_rules",
            "phase1_passes",
            "constants",
            "convention",
        )
    }
    if settings.convention == "qcc" and settings.constants in (None, "table"):
        given["constants"] = "qcc"  # qcc's own d2/d3 table; an explicit "exact" still wins
    given.update(settings.options)
    if "target" in accepted and "center" not in accepted and given.get("target") is None:
        given["target"] = settings.center
    return cls(**{k: v for k, v in given.items() if k in accepted and v is not None})


@dataclass(frozen=True, slots=True)
class ChartInfo:
    """One registered chart (see the module docstring)."""

    name: str
    cls: type[Detector]
    kind: ChartKind
    takes: Takes
    description: str
    columns: tuple[str, ...] = ()
    sigma_methods: tuple[str, ...] = ()
    options: tuple[ChartOption, ...] = ()
    factory: Callable[[ChartSettings], Detector] | None = None

    def build(self, settings: ChartSettings) -> Detector:
        """The chart, built from ``settings`` (chart-specific options filled with defaults)."""
        defaults = {o.name: o.default for o in self.options if o.default is not None}
        settings = ChartSettings(
            **{name: getattr(settings, name) for name in _SETTINGS if name != "options"},
            options={**defaults, **settings.options},
        )
        if self.factory is not None:
            return self.factory(settings)
        return build_from_settings(self.cls, settings)

    @property
    def streams(self) -> tuple[StreamList, ...]:
        """The config lists that may use this chart (T² and capability have their own keys)."""
        if self.kind in ("multivariate", "capability"):
            return ()
        if self.takes in ("value", "subgroup", "values"):
            return ("characteristics", "parameters")
        return ("characteristics",)


_SETTINGS = tuple(ChartSettings.__dataclass_fields__)
_CHARTS: dict[str, ChartInfo] = {}
_BUILT_IN = "linewatch.detectors.spc"


def register_chart(
    name: str,
    cls: type[Detector],
    *,
    kind: ChartKind,
    takes: Takes,
    description: str,
    columns: tuple[str, ...] = (),
    sigma_methods: tuple[str, ...] = (),
    options: tuple[ChartOption, ...] = (),
    factory: Callable[[ChartSettings], Detector] | None = None,
) -> ChartInfo:
    """Make ``cls`` available as chart ``name`` everywhere; returns its entry."""
    known = _CHARTS.get(name)
    # The same class imported again (a doctest run imports modules a second time) is fine.
    if known is not None and known.cls.__qualname__ != cls.__qualname__:
        raise ValueError(f"chart {name!r} is already registered by {_CHARTS[name].cls.__name__}")
    if takes == "counts" and not columns:
        raise ValueError(f"chart {name!r} takes counts: name their columns")
    info = ChartInfo(name, cls, kind, takes, description, columns, sigma_methods, options, factory)
    _CHARTS[name] = info
    return info


def unregister_chart(name: str) -> None:
    """Remove a chart (tests that register a toy one clean up with this)."""
    _CHARTS.pop(name, None)


def _load_built_in() -> None:
    if _BUILT_IN not in sys.modules:
        importlib.import_module(_BUILT_IN)  # its modules register the built-in charts


def charts() -> tuple[ChartInfo, ...]:
    """Every registered chart, in registration order (the built-in ones first)."""
    _load_built_in()
    return tuple(_CHARTS.values())


def chart_names(stream: StreamList | None = None) -> tuple[str, ...]:
    """Names of every chart, or of those a config list (``characteristics``...) may use."""
    return tuple(c.name for c in charts() if stream is None or stream in c.streams)


def chart_info(name: str) -> ChartInfo:
    """The entry of chart ``name``; ``KeyError`` naming the choices if there is none."""
    _load_built_in()
    info = _CHARTS.get(name)
    if info is not None:
        return info
    raise KeyError(f"unknown chart {name!r}; choose from {', '.join(chart_names())}")


def chart_of_class(cls: type[Detector]) -> ChartInfo | None:
    """The (first) entry that registered ``cls``, if any."""
    return next((c for c in charts() if c.cls is cls), None)
