"""Statistical process control charts, rules, capability and batch analysis."""

from detectors.spc.analyze import AnalysisResult, analyze
from detectors.spc.attributes import (
    CChart,
    LaneyPChart,
    LaneyUChart,
    NPChart,
    PChart,
    UChart,
)
from detectors.spc.capability import (
    CapabilityChart,
    CapabilityResult,
    capability,
    capability_indices,
)
from detectors.spc.chart import LimitsVersion, PhaseIChart, Stat
from detectors.spc.hotelling import HotellingT2Chart
from detectors.spc.imr import IMRChart, IndividualsChart
from detectors.spc.rules import RuleSet, RuleState
from detectors.spc.timeweighted import CusumChart, EwmaChart
from detectors.spc.xbar import XbarRChart, XbarSChart
from detectors.spc.zmr import ZMRChart

__all__ = [
    "AnalysisResult",
    "CChart",
    "CapabilityChart",
    "CapabilityResult",
    "CusumChart",
    "EwmaChart",
    "HotellingT2Chart",
    "IMRChart",
    "IndividualsChart",
    "LaneyPChart",
    "LaneyUChart",
    "LimitsVersion",
    "NPChart",
    "PChart",
    "PhaseIChart",
    "RuleSet",
    "RuleState",
    "Stat",
    "UChart",
    "XbarRChart",
    "XbarSChart",
    "ZMRChart",
    "analyze",
    "capability",
    "capability_indices",
]
