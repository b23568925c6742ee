"""The default output of ``linewatch analyze``: a summary like Minitab's session window.

Points are numbered from 1, as users count (point k is the k-th observation, so the moving
range chart starts at point 2); ``--json`` keeps the 0-based indices.

>>> print(rule_report("nelson1", [52, 60], RuleSet()))
TEST 1. One point more than 3.00 standard deviations from center line.
Test failed at points: 53, 61
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from linewatch.detectors.spc.analyze import AnalysisResult, ChartSeries
from linewatch.detectors.spc.rules import RuleSet
from linewatch.pipeline.analyze_capability import CapabilityReport

__all__ = [
    "CHART_TITLES",
    "SERIES_TITLES",
    "capability_text",
    "rule_report",
    "series_title",
    "summary",
]

#: Minitab's names of the charts.
CHART_TITLES = {
    "imr": "I-MR Chart",
    "xbar-r": "Xbar-R Chart",
    "xbar-s": "Xbar-S Chart",
    "p": "P Chart",
    "np": "NP Chart",
    "c": "C Chart",
    "u": "U Chart",
    "laney-p": "Laney P' Chart",
    "laney-u": "Laney U' Chart",
    "cusum": "CUSUM Chart",
    "ewma": "EWMA Chart",
    "zmr": "Z-MR Chart",
    "t2": "T² Chart",
}

#: Minitab's names of the plotted series (the result's chart keys).
SERIES_TITLES = {
    "individuals": "I",
    "moving_range": "MR",
    "xbar": "Xbar",
    "range": "R",
    "stdev": "S",
    "s": "S",
    "laney_p": "Laney P'",
    "laney_u": "Laney U'",
    "ewma": "EWMA",
    "cusum_upper": "CUSUM upper",
    "cusum_lower": "CUSUM lower",
    "z": "Z",
}

_TESTS = {
    1: "One point more than {k:.2f} standard deviations from center line.",
    2: "{k} points in a row on same side of center line.",
    3: "{k} points in a row all increasing or all decreasing.",
    4: "{k} points in a row alternating up and down.",
    5: "{k} out of {k1} points more than 2 standard deviations from center line "
    "(on one side of CL).",
    6: "{k} out of {k1} points more than 1 standard deviation from center line "
    "(on one side of CL).",
    7: "{k} points in a row within 1 standard deviation of center line (above and below CL).",
    8: "{k} points in a row more than 1 standard deviation from center line (above and below CL).",
}


def _g(value: float | None) -> str:
    return "*" if value is None else f"{value:.6g}"


def series_title(name: str) -> str:
    """Minitab's name of a plotted series (``xbar`` -> ``Xbar``)."""
    return SERIES_TITLES.get(name, name.upper() if len(name) <= 2 else name)


def rule_report(rule: str, indices: Sequence[int], rules: RuleSet) -> str:
    """The two lines of one failed test (0-based ``indices`` printed 1-based)."""
    points = ", ".join(str(i + 1) for i in indices)
    if rule.startswith("nelson") and rule[6:].isdigit():
        test = int(rule[6:])
        k = rules.k_of(test)
        text = _TESTS[test].format(k=k, k1=int(k) + 1)
        return f"TEST {test}. {text}\nTest failed at points: {points}"
    return f"{rule}.\nTest failed at points: {points}"


def _limit(values: Sequence[float | None]) -> str:
    found = [v for v in values if v is not None]
    if not found:
        return "*"
    low, high = min(found), max(found)
    if low == high:
        return _g(low)
    return f"{_g(low)} to {_g(high)} (varies by point)"


def _limits_line(name: str, series: ChartSeries) -> str:
    return (
        f"{series_title(name)} chart: CL = {_limit(series.center)}, "
        f"UCL = {_limit(series.ucl)}, LCL = {_limit(series.lcl)}"
    )


def _rule_order(rule: str) -> tuple[int, str]:
    return (int(rule[6:]), rule) if rule[6:].isdigit() else (99, rule)


def summary(
    result: AnalysisResult,
    *,
    of: str,
    rules: RuleSet,
    times: Sequence[datetime] | None = None,
    capability: CapabilityReport | None = None,
) -> str:
    """The session-window text of ``result`` (``of``: what was charted, for the titles)."""
    title = CHART_TITLES.get(result.chart, result.chart)
    out: list[str] = []
    if result.charts:
        unit = "observations" if result.chart in ("imr", "cusum", "ewma") else "subgroups"
        out.append(f"{title} of {of}")
        out.append("")
        phase = (
            f"limits from all {result.n} {unit}"
            if result.phase1 == result.n
            else f"limits from {unit} 1-{result.phase1} (phase I)"
        )
        out.append(f"{result.n} {unit}; {phase}")
        if result.excluded:
            dropped = ", ".join(str(i + 1) for i in result.excluded)
            out.append(f"Excluded from the limits (beyond them in phase I): {dropped}")
        if times:
            out.append(f"Time: {times[0].isoformat()} to {times[-1].isoformat()}")
        out.append("")
        out.extend(_limits_line(name, series) for name, series in result.charts.items())
        if result.sigma is not None:
            out.append(f"σ (within) = {_g(result.sigma)}")
        for name, series in result.charts.items():
            out.append("")
            failed = {r: v for r, v in series.violations.items() if v}
            chart_title = f"{series_title(name)} Chart of {of}"
            if not failed:
                out.append(f"No test failed on the {chart_title}.")
                continue
            out.append(f"Test Results for {chart_title}")
            for rule in sorted(failed, key=_rule_order):
                out.append("")
                out.append(rule_report(rule, failed[rule], rules))
    if capability is not None:
        if out:
            out.append("")
        out.extend(capability_text(capability, of))
    return "\n".join(out) + "\n"


def _ci(name: str, capability: CapabilityReport) -> str:
    index = capability.result.indices.get(name)
    if index is None:
        return f"{name.capitalize():<5} *"
    return f"{name.capitalize():<5} {index.value:9.4f}  ({index.lower:.4f}, {index.upper:.4f})"


def capability_text(capability: CapabilityReport, of: str) -> list[str]:
    """The capability section's lines."""
    r = capability.result
    level = round(100 * (1 - r.alpha))
    out = [
        f"Process Capability of {of}",
        "",
        f"LSL = {_g(capability.lsl)}, Target = {_g(capability.target)}, USL = {_g(capability.usl)}",
        f"Sample mean = {_g(r.mean)}, N = {r.n}, StDev(Within) = {_g(r.sigma_within)}, "
        f"StDev(Overall) = {_g(r.sigma_overall)}",
        "",
        f"Index     Value  {level}% CI",
        *(_ci(name, capability) for name in ("cp", "cpl", "cpu", "cpk", "cpm", "pp", "ppk")),
        "",
        f"{'Performance':<11}{'Observed':>12}{'Exp. Within':>14}{'Exp. Overall':>14}",
    ]
    for label, key in (("PPM < LSL", "below"), ("PPM > USL", "above"), ("PPM Total", "total")):
        cells = [
            getattr(p, key) for p in (capability.observed, capability.within, capability.overall)
        ]
        out.append(f"{label:<11}{cells[0]:>12.2f}{cells[1]:>14.2f}{cells[2]:>14.2f}")
    out.append("")
    normality = capability.normality
    if normality is None:
        out.append("Anderson-Darling normality test: not computed (fewer than 3 distinct values)")
    else:
        p = "< 0.005" if normality.p_value < 0.005 else f"= {normality.p_value:.3f}"
        out.append(f"Anderson-Darling normality test: AD = {normality.statistic:.3f}, P-Value {p}")
    return out
