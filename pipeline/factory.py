"""Config → detectors: fills a chart's settings from a stream's config, by the chart registry.

Nothing here names a chart: the chart's registry entry (:mod:`linewatch.detectors.registry`)
says which class it is and which settings its constructor takes; a chart's own settings
come from the config section named after it (``cusum:``, ``ewma:``).

>>> from linewatch.pipeline.config import CharacteristicConfig
>>> build_detector(CharacteristicConfig(name="d", chart="xbar-r", subgroup_size=5,
...                                     rules="western_electric"))
XbarRChart(phase1=25, k_sigma=3.0, sigma_method=None, center=None, sigma=None, limits=None, rules=RuleSet(tests=(1, 2, 5, 6), k={2: 8}), dispersion_rules=RuleSet(tests=(1,)), phase1_passes=0, constants='table', convention='minitab')
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from linewatch.detectors.base import Detector
from linewatch.detectors.registry import ChartSettings, chart_info
from linewatch.detectors.spc.rules import RuleSet
from linewatch.pipeline.config import (
    CharacteristicConfig,
    MultivariateConfig,
    ParameterConfig,
    RulesConfig,
)

__all__ = ["build_capability", "build_detector", "build_multivariate", "rule_set"]


def rule_set(rules: str | RulesConfig) -> RuleSet:
    """The :class:`RuleSet` a config's ``rules`` names (text as :meth:`RuleSet.parse` reads it).

    >>> rule_set("test1"), rule_set("we"), rule_set(RulesConfig(tests=[1, 2], k={2: 7}))
    (RuleSet(tests=(1,)), RuleSet(tests=(1, 2, 5, 6), k={2: 8}), RuleSet(tests=(1, 2), k={2: 7}))
    """
    if isinstance(rules, RulesConfig):
        return RuleSet(
            tests=rules.tests, k={t: v if t == 1 else int(v) for t, v in rules.k.items()}
        )
    return RuleSet.parse(rules)


def _chart_options(spec: CharacteristicConfig | ParameterConfig) -> dict[str, Any]:
    """The chart's own section (``cusum:``...) and, for part-wise charts, the parts."""
    section = getattr(spec, spec.chart.replace("-", "_"), None)
    options: dict[str, Any] = section.model_dump() if isinstance(section, BaseModel) else {}
    if isinstance(spec, CharacteristicConfig) and chart_info(spec.chart).takes == "parts":
        parts = {name: (p.center, p.sigma) for name, p in spec.parts.items() if p.sigma is not None}
        options["parts"] = parts or None
    return options


def build_detector(spec: CharacteristicConfig | ParameterConfig) -> Detector:
    """The chart a characteristic's or parameter's config asks for."""
    limits = spec.limits
    settings = ChartSettings(
        phase1=spec.phase1,
        k_sigma=spec.k_sigma,
        sigma_method=spec.sigma,
        center=limits.center if limits else None,
        sigma=limits.sigma if limits else None,
        rules=rule_set(spec.rules),
        dispersion_rules=rule_set(spec.dispersion_rules),
        phase1_passes=spec.phase1_passes,
        convention=spec.conventions,
        options=_chart_options(spec),
    )
    return chart_info(spec.chart).build(settings)


def build_capability(spec: CharacteristicConfig) -> Detector | None:
    """The rolling capability detector of a characteristic, if it asks for one."""
    if spec.capability is None:
        return None
    options = {"lsl": spec.lsl, "usl": spec.usl, "target": spec.target}
    options.update(window=spec.capability.window, alpha=spec.capability.alpha)
    settings = ChartSettings(convention=spec.conventions, options=options)
    return chart_info("capability").build(settings)


def build_multivariate(spec: MultivariateConfig) -> Detector:
    """Hotelling T² over the group's parameters (named ``equipment/name``)."""
    settings = ChartSettings(
        phase1=spec.phase1,
        phase1_passes=spec.phase1_passes,
        options={"names": tuple(spec.parameters), "alpha": spec.alpha},
    )
    return chart_info("t2").build(settings)
