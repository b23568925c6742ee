"""Statistical process control charts, rules, capability and batch analysis.

Importing this package registers the built-in charts (:mod:`linewatch.detectors.registry`),
in the order below, which is the order the config's error messages list them in.
"""

# isort: off
from linewatch.detectors.spc.imr import IMRChart
from linewatch.detectors.spc.xbar import XbarRChart, XbarSChart
from linewatch.detectors.spc.attributes import (
    CChart,
    LaneyPChart,
    LaneyUChart,
    NPChart,
    PChart,
    UChart,
)
from linewatch.detectors.spc.timeweighted import CusumChart, EwmaChart
from linewatch.detectors.spc.zmr import ZMRChart
from linewatch.detectors.spc.rare import GChart, TChart
from linewatch.detectors.spc.hotelling import HotellingT2Chart
from linewatch.detectors.spc.capability import (
    CapabilityChart,
    CapabilityResult,
    capability,
    capability_indices,
)
from linewatch.detectors.spc.residual import Ar1ResidualChart

# isort: on
from linewatch.detectors.spc.analyze import AnalysisResult, analyze
from linewatch.detectors.spc.chart import LimitsVersion, PhaseIChart, Stat
from linewatch.detectors.spc.rules import RuleSet, RuleState

__all__ = [
    "AnalysisResult",
    "Ar1ResidualChart",
    "CChart",
    "CapabilityChart",
    "CapabilityResult",
    "CusumChart",
    "EwmaChart",
    "GChart",
    "HotellingT2Chart",
    "IMRChart",
    "LaneyPChart",
    "LaneyUChart",
    "LimitsVersion",
    "NPChart",
    "PChart",
    "PhaseIChart",
    "RuleSet",
    "RuleState",
    "Stat",
    "TChart",
    "UChart",
    "XbarRChart",
    "XbarSChart",
    "ZMRChart",
    "analyze",
    "capability",
    "capability_indices",
]
