"""Chart builders: data in, a Vega-Lite spec (a plain dict) out; no I/O.

Shared by the HTML report and ``analyze --plot``: a spec renders in a browser through
vega-embed, and to PNG/SVG/PDF without one through ``vl-convert-python``. Every builder
is a pure function of its arguments, so a test can compare the spec it returns.
"""

from linewatch.pipeline.charts.capability import capability_chart, normal_curve
from linewatch.pipeline.charts.control import ChartRow, control_chart, location_and_dispersion
from linewatch.pipeline.charts.kpi import (
    AlertSpan,
    alert_timeline,
    pareto_chart,
    trend_chart,
)

__all__ = [
    "VEGA_LITE_SCHEMA",
    "AlertSpan",
    "ChartRow",
    "alert_timeline",
    "capability_chart",
    "control_chart",
    "location_and_dispersion",
    "normal_curve",
    "pareto_chart",
    "trend_chart",
]

VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"
