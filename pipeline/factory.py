"""Config → detectors: the one place that knows which constructor each chart type needs.

>>> from linewatch.pipeline.config import CharacteristicConfig
>>> build_detector(CharacteristicConfig(name="d", chart="xbar-r", subgroup_size=5,
...                                     rules="western_electric"))
XbarRChart(phase1=25, k_sigma=3.0, sigma_method=None, center=None, sigma=None, limits=None, rules=RuleSet(tests=(1, 2, 5, 6), k={2: 8}), dispersion_rules=RuleSet(tests=(1,)), phase1_passes=0, constants='table')
"""

from __future__ import annotations

from collections.abc import Callable

from linewatch.detectors.base import Detector
from linewatch.detectors.spc import (
    CapabilityChart,
    CChart,
    CusumChart,
    EwmaChart,
    HotellingT2Chart,
    IMRChart,
    LaneyPChart,
    LaneyUChart,
    NPChart,
    PChart,
    RuleSet,
    UChart,
    XbarRChart,
    XbarSChart,
    ZMRChart,
)
from linewatch.pipeline.config import (
    CharacteristicConfig,
    MultivariateConfig,
    ParameterConfig,
    RulePreset,
    RulesConfig,
)

__all__ = ["build_capability", "build_detector", "build_multivariate", "rule_set"]

_ATTRIBUTE_TYPES: dict[str, Callable[..., Detector]] = {
    "p": PChart,
    "np": NPChart,
    "c": CChart,
    "u": UChart,
    "laney-p": LaneyPChart,
    "laney-u": LaneyUChart,
}


def rule_set(rules: RulePreset | RulesConfig) -> RuleSet:
    """The :class:`RuleSet` a config's ``rules`` names.

    >>> rule_set("test1"), rule_set(RulesConfig(tests=[1, 2], k={2: 7}))
    (RuleSet(tests=(1,)), RuleSet(tests=(1, 2), k={2: 7}))
    """
    if isinstance(rules, RulesConfig):
        return RuleSet(
            tests=rules.tests, k={t: v if t == 1 else int(v) for t, v in rules.k.items()}
        )
    presets = {
        "nelson": RuleSet.nelson,
        "western_electric": RuleSet.western_electric,
        "none": RuleSet.none,
    }
    return presets[rules]() if rules in presets else RuleSet()


def build_detector(spec: CharacteristicConfig | ParameterConfig) -> Detector:
    """The chart a characteristic's or parameter's config asks for."""
    rules = rule_set(spec.rules)
    dispersion = rule_set(spec.dispersion_rules)
    limits = spec.limits
    center = limits.center if limits else None
    sigma = limits.sigma if limits else None
    chart = spec.chart
    if chart == "imr":
        return IMRChart(
            phase1=spec.phase1,
            k_sigma=spec.k_sigma,
            sigma_method=spec.sigma or "mr",
            center=center,
            sigma=sigma if center is not None else None,
            rules=rules,
            dispersion_rules=dispersion,
            phase1_passes=spec.phase1_passes,
        )
    if chart in ("xbar-r", "xbar-s"):
        kind = XbarRChart if chart == "xbar-r" else XbarSChart
        return kind(
            phase1=spec.phase1,
            k_sigma=spec.k_sigma,
            sigma_method=spec.sigma,
            center=center,
            sigma=sigma if center is not None else None,
            rules=rules,
            dispersion_rules=dispersion,
            phase1_passes=spec.phase1_passes,
        )
    if chart == "cusum":
        return CusumChart(
            phase1=spec.phase1,
            k=spec.cusum.k,
            h=spec.cusum.h,
            target=center,
            sigma=sigma,
            headstart=spec.cusum.headstart,
            sigma_method=spec.sigma,
        )
    if chart == "ewma":
        return EwmaChart(
            phase1=spec.phase1,
            lam=spec.ewma.lam,
            L=spec.ewma.L,
            target=center,
            sigma=sigma,
            sigma_method=spec.sigma,
        )
    if isinstance(spec, CharacteristicConfig) and chart == "zmr":
        parts = {name: (p.center, p.sigma) for name, p in spec.parts.items() if p.sigma is not None}
        return ZMRChart(
            phase1=spec.phase1,
            parts=parts or None,
            sigma_method=spec.sigma or "by_part",
            k_sigma=spec.k_sigma,
            rules=rules,
            dispersion_rules=dispersion,
            phase1_passes=spec.phase1_passes,
        )
    if chart in _ATTRIBUTE_TYPES:
        kind_attr = _ATTRIBUTE_TYPES[chart]
        return kind_attr(
            phase1=spec.phase1,
            k_sigma=spec.k_sigma,
            center=center,
            rules=rules,
            phase1_passes=spec.phase1_passes,
        )
    raise ValueError(f"unknown chart {chart!r}")  # config validation prevents this


def build_capability(spec: CharacteristicConfig) -> CapabilityChart | None:
    """The rolling capability detector of a characteristic, if it asks for one."""
    if spec.capability is None:
        return None
    return CapabilityChart(
        lsl=spec.lsl,
        usl=spec.usl,
        target=spec.target,
        window=spec.capability.window,
        alpha=spec.capability.alpha,
    )


def build_multivariate(spec: MultivariateConfig) -> HotellingT2Chart:
    """Hotelling T² over the group's parameters (named ``equipment/name``)."""
    return HotellingT2Chart(
        names=tuple(spec.parameters),
        phase1=spec.phase1,
        alpha=spec.alpha,
        phase1_passes=spec.phase1_passes,
    )
