"""Lag-1 autocorrelation of a stream, its AR(1) fit, and what to do when it is high.

Shewhart limits assume independent points. A positively autocorrelated stream (a
parameter read every cycle that drifts slowly) has moving ranges that understate its
sigma, so limits from them are too narrow and the chart fires on the process's own
wander (Montgomery, *Introduction to SPC*, §10.4).

>>> lag1_autocorrelation([1.0, 2.0, 3.0, 4.0, 5.0])   # a straight ramp
0.4
>>> fit = ar1_fit([0.0, 1.0, 0.0, 1.0, 0.0, 1.0])
>>> round(fit.phi, 3), fit.mean
(-0.833, 0.5)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "AUTOCORRELATION_ADVICE",
    "Ar1Fit",
    "ar1_fit",
    "autocorrelation_warning",
    "lag1_autocorrelation",
]

#: What a quality engineer does about it (the report, the log and check-config say this).
AUTOCORRELATION_ADVICE = (
    "Shewhart limits will be too narrow; subgroup consecutive readings (subgroup_size), "
    "chart them with EWMA, use sigma: overall, or chart the residuals of an AR(1) fit "
    "(chart: ar1)"
)


def lag1_autocorrelation(values: Sequence[float]) -> float:
    """The sample lag-1 autocorrelation ``r1 = Σ(xₜ−x̄)(xₜ₋₁−x̄) / Σ(xₜ−x̄)²`` (Box & Jenkins).

    0.0 for fewer than 3 values or a constant stream.
    """
    n = len(values)
    if n < 3:
        return 0.0
    mean = math.fsum(values) / n
    dev = [v - mean for v in values]
    denominator = math.fsum(d * d for d in dev)
    if denominator <= 0.0:
        return 0.0
    return math.fsum(dev[i] * dev[i - 1] for i in range(1, n)) / denominator


@dataclass(frozen=True, slots=True)
class Ar1Fit:
    """``xₜ − μ = φ (xₜ₋₁ − μ) + eₜ``: the mean, φ, and the residuals' sigma."""

    mean: float
    phi: float
    sigma: float


def ar1_fit(values: Sequence[float]) -> Ar1Fit:
    """Least-squares AR(1) around the sample mean (φ = r1's Yule-Walker estimate).

    The residuals' sigma is their root mean square (``n - 2`` degrees of freedom: the
    mean and φ are fitted); φ is clipped to (−0.99, 0.99) so the model stays stationary.
    """
    n = len(values)
    if n < 3:
        raise ValueError(f"an AR(1) fit needs at least 3 values, got {n}")
    mean = math.fsum(values) / n
    phi = max(-0.99, min(0.99, lag1_autocorrelation(values)))
    residuals = [values[i] - mean - phi * (values[i - 1] - mean) for i in range(1, n)]
    sigma = math.sqrt(math.fsum(e * e for e in residuals) / max(1, n - 2))
    return Ar1Fit(mean, phi, sigma)


def autocorrelation_warning(r1: float, threshold: float | None) -> str | None:
    """The warning for a stream whose phase I has lag-1 autocorrelation ``r1``, if any.

    >>> autocorrelation_warning(0.2, 0.5) is None
    True
    >>> autocorrelation_warning(0.8, 0.5).startswith("lag-1 autocorrelation 0.80 > 0.5:")
    True
    """
    if threshold is None or not r1 > threshold:
        return None
    return f"lag-1 autocorrelation {r1:.2f} > {threshold:g}: {AUTOCORRELATION_ADVICE}"
