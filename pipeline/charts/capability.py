"""Capability histogram: the values, the spec limits, and the normal curves.

The two curves are the normal densities with the within and the overall σ, scaled to
counts (density × n × bin width) so they sit on the histogram. The indices and PPM go in
the subtitle, so an exported PNG carries them too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["capability_chart", "normal_curve", "ppm_expected"]


def normal_curve(
    mean: float, sigma: float, low: float, high: float, scale: float, steps: int = 60
) -> list[tuple[float, float]]:
    """``steps + 1`` points of ``scale`` × the N(mean, sigma) density on [low, high].

    >>> normal_curve(0.0, 1.0, -1.0, 1.0, 1.0, steps=2)[1]
    (0.0, 0.3989422804014327)
    """
    out = []
    for i in range(steps + 1):
        x = low + (high - low) * i / steps
        z = (x - mean) / sigma
        out.append((x, scale * math.exp(-0.5 * z * z) / (sigma * math.sqrt(2 * math.pi))))
    return out


def _phi(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2))


def ppm_expected(
    mean: float, sigma: float, lsl: float | None, usl: float | None
) -> tuple[float, float]:
    """Expected parts per million below LSL and above USL for N(mean, sigma).

    >>> below, above = ppm_expected(0.0, 1.0, -3.0, 3.0)
    >>> round(below, 1), round(above, 1)
    (1349.9, 1349.9)
    """
    below = 0.0 if lsl is None else 1e6 * _phi((lsl - mean) / sigma)
    above = 0.0 if usl is None else 1e6 * (1 - _phi((usl - mean) / sigma))
    return below, above


def _fmt_index(name: str, index: Mapping[str, float] | None) -> str:
    if index is None:
        return ""
    return f"{name} {index['value']:.2f} [{index['lower']:.2f}, {index['upper']:.2f}]"


def capability_chart(
    values: Sequence[float],
    title: str,
    *,
    mean: float,
    sigma_within: float,
    sigma_overall: float,
    lsl: float | None,
    usl: float | None,
    target: float | None = None,
    indices: Mapping[str, Mapping[str, float]] | None = None,
    bins: int = 30,
    width: int | str = "container",
    height: int = 220,
) -> dict[str, Any]:
    """Histogram with LSL/USL/target rules and the within/overall normal curves."""
    n = len(values)
    edges = [v for v in (lsl, usl) if v is not None] + list(values)
    low, high = min(edges), max(edges)
    pad = 0.05 * (high - low or 1.0)
    low, high = low - pad, high + pad
    step = (high - low) / bins
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int((v - low) / step))] += 1
    histogram = [
        {"x0": low + i * step, "x1": low + (i + 1) * step, "count": c} for i, c in enumerate(counts)
    ]
    curves = [
        {"x": x, "y": y, "sigma": label}
        for label, sigma in (("within", sigma_within), ("overall", sigma_overall))
        for x, y in normal_curve(mean, sigma, low, high, n * step)
    ]
    specs = [
        {"x": value, "label": label}
        for label, value in (("LSL", lsl), ("target", target), ("USL", usl))
        if value is not None
    ]
    observed_below = sum(1 for v in values if lsl is not None and v < lsl)
    observed_above = sum(1 for v in values if usl is not None and v > usl)
    within = ppm_expected(mean, sigma_within, lsl, usl)
    overall = ppm_expected(mean, sigma_overall, lsl, usl)
    found = indices or {}
    subtitle = [
        "  ".join(
            t
            for t in (
                _fmt_index("Cp", found.get("cp")),
                _fmt_index("Cpk", found.get("cpk")),
                _fmt_index("Pp", found.get("pp")),
                _fmt_index("Ppk", found.get("ppk")),
            )
            if t
        )
        + "  (95% CI)",
        f"n {n}, mean {mean:.5g}, σ within {sigma_within:.4g}, overall {sigma_overall:.4g}; "
        f"PPM observed {1e6 * (observed_below + observed_above) / max(n, 1):.0f}, "
        f"expected within {sum(within):.0f}, overall {sum(overall):.0f}",
    ]
    x_scale = {"domain": [low, high]}
    return {
        "title": {"text": title, "subtitle": subtitle},
        "width": width,
        "height": height,
        "layer": [
            {
                "data": {"values": histogram},
                "mark": {"type": "bar", "color": "#9ecae1", "stroke": "#6baed6"},
                "encoding": {
                    "x": {"field": "x0", "type": "quantitative", "title": None, "scale": x_scale},
                    "x2": {"field": "x1"},
                    "y": {"field": "count", "type": "quantitative", "title": "count"},
                    "y2": {"datum": 0},
                    "tooltip": [
                        {"field": "x0", "format": ".5g", "title": "from"},
                        {"field": "x1", "format": ".5g", "title": "to"},
                        {"field": "count", "type": "quantitative"},
                    ],
                },
            },
            {
                "data": {"values": curves},
                "mark": {"type": "line", "strokeWidth": 1.5},
                "encoding": {
                    "x": {"field": "x", "type": "quantitative", "scale": x_scale},
                    "y": {"field": "y", "type": "quantitative"},
                    "color": {
                        "field": "sigma",
                        "type": "nominal",
                        "scale": {"domain": ["within", "overall"], "range": ["#2ca02c", "#ff7f0e"]},
                        "title": "normal, σ",
                    },
                },
            },
            {
                "data": {"values": specs},
                "mark": {"type": "rule", "color": "#d62728", "strokeWidth": 1.5},
                "encoding": {
                    "x": {"field": "x", "type": "quantitative", "scale": x_scale},
                    "tooltip": [{"field": "label"}, {"field": "x", "format": ".5g"}],
                },
            },
            {
                "data": {"values": specs},
                "mark": {"type": "text", "color": "#d62728", "dy": -6, "baseline": "bottom"},
                "encoding": {
                    "x": {"field": "x", "type": "quantitative", "scale": x_scale},
                    "y": {"value": 0},
                    "text": {"field": "label"},
                },
            },
        ],
    }
