"""Process capability: Cp, Cpk, Cpl, Cpu, Cpm (within sigma), Pp, Ppk (overall), with CIs.

With N values, mean mu, within sigma s_w and overall sigma s_o (see
:mod:`linewatch.detectors.spc.estimators`), two-sided confidence level ``1 - alpha``:

* ``Cp = (USL-LSL)/(6 s_w)``; CI ``Cp sqrt(chi2_{alpha/2, N-1}/(N-1))`` to
  ``Cp sqrt(chi2_{1-alpha/2, N-1}/(N-1))`` (chi-square; Montgomery eq. 8.19). Pp alike.
* ``Cpu = (USL-mu)/(3 s_w)``, ``Cpl = (mu-LSL)/(3 s_w)``, ``Cpk = min(Cpu, Cpl)``; CI by
  Bissell (1990): ``C ± z_{1-alpha/2} sqrt(1/(9N) + C^2/(2(N-1)))``, for Cpu, Cpl, Cpk, Ppk.
* ``Cpm = (USL-LSL)/(6 sqrt(s_w^2 + (mu-T)^2))``; CI chi-square with
  ``nu = N(1+a^2)^2/(1+2a^2)``, ``a = (mu-T)/s_w`` (Boyles 1991). Needs a target T
  (defaults to the spec midpoint).

One-sided specifications give only the indices that exist (Cpu or Cpl, Cpk = that one).

``convention="qcc"`` gives the intervals of qcc 2.7's ``process.capability`` instead (the
indices themselves are the same): Cpl and Cpu bounds with the *one-sided* quantile
``z_{1-alpha}`` (qcc's ``qnorm(confidence.level)``) in the same formula, and the Cpm
interval with ``nu = N(1+a^2)/(1+2a^2)`` degrees of freedom (the square of ``1+a^2`` is
Boyles' and the default here). Cp and Cpk intervals agree (chi-square; two-sided z).
Which is which: ``minitab`` (default) = Bissell two-sided for Cpl/Cpu and Boyles for Cpm;
``qcc`` = one-sided z for Cpl/Cpu and qcc's df for Cpm.

Overflow: squares are taken only where they cannot overflow (``math.hypot`` otherwise), and
indices that still are not finite (a sigma so small that the specification width over it
overflows) are refused: :func:`capability_indices` raises DetectorInputError, and
:class:`CapabilityChart` skips such a window as it skips a constant one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scipy import stats

from linewatch.detectors.base import (
    Detector,
    DetectorInputError,
    Evaluation,
    Observation,
    PlotPoint,
    Signal,
    empty_evaluation,
    finite,
)
from linewatch.detectors.registry import ChartOption, register_chart
from linewatch.detectors.spc.constants import d2
from linewatch.detectors.spc.conventions import check_convention
from linewatch.detectors.spc.estimators import (
    SUBGROUP_METHODS,
    mean_of,
    mr_sigma,
    overall_sigma,
    sd_sigma,
    subgroup_sigma,
)

__all__ = ["CapabilityChart", "CapabilityResult", "Index", "capability", "capability_indices"]


@dataclass(frozen=True, slots=True)
class Index:
    """One capability index with its two-sided confidence interval."""

    value: float
    lower: float
    upper: float


@dataclass(frozen=True, slots=True)
class CapabilityResult:
    """Indices by name (``cp``, ``cpk``, ``cpl``, ``cpu``, ``cpm``, ``pp``, ``ppk``)."""

    n: int
    mean: float
    sigma_within: float
    sigma_overall: float
    alpha: float
    indices: dict[str, Index]

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "mean": self.mean,
            "sigma_within": self.sigma_within,
            "sigma_overall": self.sigma_overall,
            "alpha": self.alpha,
            "indices": {
                k: {"value": v.value, "lower": v.lower, "upper": v.upper}
                for k, v in self.indices.items()
            },
        }


def _chi_ci(value: float, dof: float, alpha: float) -> Index:
    chi2 = stats.chi2(dof)
    return Index(
        value,
        value * math.sqrt(float(chi2.ppf(alpha / 2)) / dof),
        value * math.sqrt(float(chi2.ppf(1 - alpha / 2)) / dof),
    )


def _bissell(value: float, n: int, alpha: float, one_sided: bool = False) -> Index:
    if abs(value) < 1e150:
        spread = math.sqrt(1.0 / (9 * n) + value**2 / (2 * (n - 1)))
    else:  # value**2 would overflow
        spread = math.hypot(1.0 / math.sqrt(9 * n), value / math.sqrt(2 * (n - 1)))
    half = float(stats.norm.ppf(1 - (alpha if one_sided else alpha / 2))) * spread
    return Index(value, value - half, value + half)


def _qcc_cpm_dof(n: int, a: float) -> float:
    """qcc's ``n (1+a^2) / (1+2a^2)`` without overflowing for a large ``a`` (limit n/2)."""
    if abs(a) < 1e100:
        return n * (1 + a * a) / (1 + 2 * a * a)
    return n / 2.0


def _boyles_dof(n: int, a: float) -> float:
    """``n (1+a^2)^2 / (1+2a^2)`` without overflowing for a large ``a``."""
    if abs(a) < 1e50:  # (1 + a^2)^2 stays far below the float range
        return n * (1 + a * a) ** 2 / (1 + 2 * a * a)
    return n * (a / math.sqrt(2.0)) * (a / math.sqrt(2.0))  # the limit, ~ n a^2 / 2


def capability_indices(
    n: int,
    mean: float,
    sigma_within: float,
    sigma_overall: float,
    lsl: float | None,
    usl: float | None,
    target: float | None = None,
    alpha: float = 0.05,
    convention: str = "minitab",
) -> CapabilityResult:
    """Indices from summary statistics (see the module docstring for the formulas).

    >>> r = capability_indices(100, 10.0, 0.5, 0.6, 8.0, 13.0)
    >>> r.indices["cp"].value, r.indices["cpk"].value
    (1.6666666666666667, 1.3333333333333333)
    """
    if lsl is None and usl is None:
        raise ValueError("give at least one specification limit")
    if lsl is not None and usl is not None and not usl > lsl:
        raise ValueError(f"USL {usl} must exceed LSL {lsl}")
    if n < 2 or not sigma_within > 0 or not sigma_overall > 0:
        raise DetectorInputError("capability needs n >= 2 and positive sigmas")
    qcc = check_convention(convention) == "qcc"
    out: dict[str, Index] = {}
    for prefix, sigma in (("c", sigma_within), ("p", sigma_overall)):
        upper = None if usl is None else (usl - mean) / (3 * sigma)
        lower = None if lsl is None else (mean - lsl) / (3 * sigma)
        if usl is not None and lsl is not None:
            out[f"{prefix}p"] = _chi_ci((usl - lsl) / (6 * sigma), n - 1, alpha)
        if prefix == "c":
            if upper is not None:
                out["cpu"] = _bissell(upper, n, alpha, one_sided=qcc)
            if lower is not None:
                out["cpl"] = _bissell(lower, n, alpha, one_sided=qcc)
        sides = [v for v in (upper, lower) if v is not None]
        out[f"{prefix}pk"] = _bissell(min(sides), n, alpha)
    if usl is not None and lsl is not None:
        aim = (usl + lsl) / 2 if target is None else target
        a = (mean - aim) / sigma_within
        try:
            spread = math.sqrt(sigma_within**2 + (mean - aim) ** 2)
        except OverflowError:
            spread = math.hypot(sigma_within, mean - aim)
        if not spread > 0.0:  # the squares underflowed (a subnormal sigma)
            spread = math.hypot(sigma_within, mean - aim)
        dof = _qcc_cpm_dof(n, a) if qcc else _boyles_dof(n, a)
        out["cpm"] = _chi_ci((usl - lsl) / (6 * spread), dof, alpha)
    for name, index in out.items():
        if not all(math.isfinite(v) for v in (index.value, index.lower, index.upper)):
            raise DetectorInputError(
                f"capability index {name} is not finite (sigma within {sigma_within!r}, "
                f"overall {sigma_overall!r}, mean {mean!r}): the values are implausible"
            )
    return CapabilityResult(n, mean, sigma_within, sigma_overall, alpha, out)


def capability(
    data: Sequence[Any],
    lsl: float | None = None,
    usl: float | None = None,
    target: float | None = None,
    sigma_method: str | None = None,
    sigma_within: float | None = None,
    alpha: float = 0.05,
    convention: str = "minitab",
    constants: str | None = None,
) -> CapabilityResult:
    """Capability of individuals (floats) or subgroups (sequences of floats).

    Within sigma: ``sigma_within`` if given, else by ``sigma_method`` (``"mr"`` default for
    individuals; for subgroups ``"rbar"``, or ``"uwave-r"`` under ``convention="qcc"``; or
    any subgroup method of :mod:`~linewatch.detectors.spc.estimators`, or ``"sd"``).
    Overall: the sample SD of all values. ``constants``: the d2/d3 table (default
    ``"table"``, ``"qcc"`` under the qcc convention).
    """
    qcc = check_convention(convention) == "qcc"
    table = constants or ("qcc" if qcc else "table")
    groups = [list(g) if isinstance(g, Sequence) else [g] for g in data]
    values = [finite(v, "value") for g in groups for v in g]
    if len(values) < 2:
        raise DetectorInputError("capability needs at least 2 values")
    individuals = all(len(g) == 1 for g in groups)
    if sigma_within is None:
        method = sigma_method or ("mr" if individuals else "uwave-r" if qcc else "rbar")
        if method == "mr":
            sigma_within = mr_sigma(values, constants=table)
        elif method == "sd":
            sigma_within = sd_sigma(values)
        else:
            sigma_within = subgroup_sigma(method, groups, table)
    mean = mean_of(values)
    return capability_indices(
        len(values), mean, sigma_within, overall_sigma(values), lsl, usl, target, alpha, convention
    )


class CapabilityChart(Detector):
    """Rolling capability of one characteristic, over tumbling windows of ``window`` values.

    At the end of each window it plots ``cp``, ``cpk``, ``pp``, ``ppk`` (those the
    specification allows) with their confidence bounds as ``lcl``/``ucl`` and ``min_cpk``
    as the center line; a ``cpk`` below ``min_cpk`` signals rule ``capability``;
    ``convention`` picks the intervals (see the module docstring). Within
    sigma is MR-bar/d2(2) of the window, overall the window's SD. State is O(1): running
    sums (Welford), not the window's values.

    >>> from datetime import datetime, timezone
    >>> ts = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> chart = CapabilityChart(lsl=0.0, usl=6.0, window=4)
    >>> [len(chart.update(ts, x).points) for x in (2.0, 4.0, 3.0, 3.0)]
    [0, 0, 0, 4]
    """

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        """Settings the generic checks run this chart with."""
        return [{"lsl": 7.0, "usl": 13.0, "window": 25}]

    def __init__(
        self,
        lsl: float | None = None,
        usl: float | None = None,
        target: float | None = None,
        window: int = 100,
        alpha: float = 0.05,
        min_cpk: float | None = 1.33,
        convention: str = "minitab",
    ) -> None:
        if lsl is None and usl is None:
            raise ValueError("give at least one specification limit")
        if window < 3:
            raise ValueError(f"window must be at least 3, got {window}")
        self.lsl = lsl
        self.usl = usl
        self.target = target
        self.window = window
        self.alpha = alpha
        self.min_cpk = min_cpk
        self.convention = check_convention(convention)
        self._reset()
        self._windows = 0

    def _reset(self) -> None:
        self._n = 0
        self._mean = 0.0
        self._m2 = 0.0
        self._mr_sum = 0.0
        self._previous: float | None = None

    def update(self, ts: datetime, x: Observation) -> Evaluation:
        if isinstance(x, (Mapping, Sequence)):
            raise DetectorInputError(f"CapabilityChart takes one number, got {x!r}")
        value = finite(x)
        self._n += 1
        delta = value - self._mean
        self._mean += delta / self._n
        self._m2 += delta * (value - self._mean)
        if self._previous is not None:
            self._mr_sum += abs(value - self._previous)
        self._previous = value
        if self._n < self.window:
            return empty_evaluation()
        n, mean = self._n, self._mean
        sigma_within = self._mr_sum / (n - 1) / d2(2)
        sigma_overall = math.sqrt(self._m2 / (n - 1))
        index = self._windows
        self._windows += 1
        self._reset()
        if not (sigma_within > 0 and sigma_overall > 0):
            return empty_evaluation()  # documented skip: a constant window has no capability
        try:
            result = capability_indices(
                n,
                mean,
                sigma_within,
                sigma_overall,
                self.lsl,
                self.usl,
                self.target,
                self.alpha,
                self.convention,
            )
        except DetectorInputError:
            return empty_evaluation()  # documented skip: indices that are not finite
        points, signals = [], []
        for name in ("cp", "cpk", "pp", "ppk"):
            got = result.indices.get(name)
            if got is None:
                continue
            fired = name == "cpk" and self.min_cpk is not None and got.value < self.min_cpk
            points.append(
                PlotPoint(
                    ts,
                    name,
                    index,
                    got.value,
                    self.min_cpk,
                    got.lower,
                    got.upper,
                    1,
                    "",
                    ("capability",) if fired else (),
                )
            )
            if fired and self.min_cpk is not None:
                signals.append(
                    Signal(
                        ts,
                        "capability",
                        name,
                        index,
                        got.value,
                        self.min_cpk,
                        got.lower,
                        got.upper,
                        f"Cpk {got.value:.3f} below {self.min_cpk:g}",
                    )
                )
        return Evaluation(tuple(points), tuple(signals))

    def _get_state(self) -> dict[str, Any]:
        return {
            "n": self._n,
            "mean": self._mean,
            "m2": self._m2,
            "mr_sum": self._mr_sum,
            "previous": self._previous,
            "windows": self._windows,
        }

    def _set_state(self, state: Mapping[str, Any]) -> None:
        self._n, self._mean, self._m2 = state["n"], state["mean"], state["m2"]
        self._mr_sum, self._previous = state["mr_sum"], state["previous"]
        self._windows = state["windows"]


register_chart(
    "capability",
    CapabilityChart,
    kind="capability",
    takes="value",
    sigma_methods=("mr", "sd", *SUBGROUP_METHODS),
    options=(
        ChartOption("lsl", None, "lower specification limit"),
        ChartOption("usl", None, "upper specification limit"),
        ChartOption("target", None, "target (CUSUM, EWMA: default the center)"),
        ChartOption("alpha", None, "T2 false-alarm rate; capability confidence level"),
    ),
    description="Cp, Cpk, Pp, Ppk with confidence bounds (batch, or rolling windows)",
)
