"""Batch analysis: one call from data to limits, plotted statistics and violations.

``analyze`` builds the streaming chart and runs the data through it, so its numbers are the
stream's numbers: the first ``phase1`` observations (all of them by default) estimate the
limits and are judged against them (Phase I, as qcc/Minitab), later ones are judged against
the frozen limits (Phase II).

>>> result = analyze("c", [{"count": c} for c in (4, 6, 5, 3, 7, 5)])
>>> result.charts["c"].center[0], round(result.charts["c"].ucl[0], 4)
(5.0, 11.7082)
>>> result.to_dict()["charts"]["c"]["violations"]
{}
>>> result.sigma == 5.0**0.5, result.charts["c"].sigma[0] == 5.0**0.5
(True, True)

Every result reports sigma: ``sigma`` the process sigma (qcc's ``std.dev``: the estimate
for variables charts; ``sqrt(p̄(1-p̄))``, ``sqrt(n p̄(1-p̄))``, ``sqrt(c̄)``, ``sqrt(ū)`` for
p, np, c, u, see :func:`~linewatch.detectors.spc.conventions.process_sigma`), and each
chart series ``sigma`` per point (the sigma of the plotted statistic its limits are
``center ± k·sigma`` of, before clipping). ``convention`` (``minitab`` or ``qcc``) picks
the defaults of :mod:`~linewatch.detectors.spc.conventions`; ``rules_on_dispersion=True``
applies ``rules`` to the R, S and moving-range charts too (else they get test 1 only).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from linewatch.detectors.base import DetectorInputError, Observation, as_values, finite
from linewatch.detectors.registry import ChartSettings, chart_info, chart_names
from linewatch.detectors.spc.capability import CapabilityResult, capability
from linewatch.detectors.spc.chart import PhaseIChart
from linewatch.detectors.spc.conventions import check_convention, process_sigma
from linewatch.detectors.spc.rules import RuleSet

__all__ = [
    "AnalysisInputError",
    "AnalysisResult",
    "ChartSeries",
    "analyze",
    "parse_rules",
]

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class AnalysisInputError(DetectorInputError):
    """A bad observation; ``index`` is its 0-based position in ``data``."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(f"observation {index}: {message}")
        self.index = index
        self.reason = message


@dataclass
class ChartSeries:
    """One plotted chart: per-point index, value, center and limits, and violations."""

    index: list[int] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    center: list[float | None] = field(default_factory=list)
    lcl: list[float | None] = field(default_factory=list)
    ucl: list[float | None] = field(default_factory=list)
    violations: dict[str, list[int]] = field(default_factory=dict)
    sigma: list[float | None] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "value": _clean(self.value),
            "center": _clean(self.center),
            "lcl": _clean(self.lcl),
            "ucl": _clean(self.ucl),
            "sigma": _clean(self.sigma),
            "violations": {k: list(v) for k, v in sorted(self.violations.items())},
        }


@dataclass
class AnalysisResult:
    """What :func:`analyze` found; ``to_dict()`` is JSON-able."""

    chart: str
    n: int
    phase1: int
    params: dict[str, Any]
    sigma: float | None
    excluded: list[int]
    charts: dict[str, ChartSeries]
    capability: CapabilityResult | None = None
    convention: str = "minitab"

    def to_dict(self) -> dict[str, Any]:
        return {
            "chart": self.chart,
            "convention": self.convention,
            "n": self.n,
            "phase1": self.phase1,
            "params": _clean(self.params),
            "sigma": self.sigma,
            "excluded": self.excluded,
            "charts": {k: v.to_dict() for k, v in self.charts.items()},
            "capability": None if self.capability is None else self.capability.to_dict(),
        }


def _clean(value: Any) -> Any:
    """JSON-able: NaN/inf become None (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def parse_rules(rules: RuleSet | str | Iterable[int] | None) -> RuleSet | None:
    """A RuleSet from text (see :meth:`RuleSet.parse`), test numbers, or a RuleSet.

    >>> parse_rules("1,2,5,6;2=8"), parse_rules([1, 2])
    (RuleSet(tests=(1, 2, 5, 6), k={2: 8}), RuleSet(tests=(1, 2)))
    """
    if rules is None or isinstance(rules, RuleSet):
        return rules
    if isinstance(rules, str):
        return RuleSet.parse(rules)
    return RuleSet(tests=rules)


def _settings(
    phase1: int,
    sigma: str | None,
    rules: RuleSet | None,
    opts: dict[str, Any],
    convention: str,
    rules_on_dispersion: bool,
) -> ChartSettings:
    common = ("k_sigma", "passes", "center", "known_sigma", "constants")
    return ChartSettings(
        phase1=phase1,
        k_sigma=float(opts.get("k_sigma", 3.0)),
        sigma_method=sigma,
        center=opts.get("center"),
        sigma=opts.get("known_sigma"),
        rules=rules,
        dispersion_rules=rules if rules_on_dispersion else None,
        phase1_passes=int(opts.get("passes", 0)),
        constants=opts.get("constants", "table"),
        convention=convention,
        options={k: v for k, v in opts.items() if k not in common},
    )


def _point_sigmas(
    detector: PhaseIChart, data: Sequence[Observation], params: dict[str, Any]
) -> dict[tuple[str, int], float]:
    """Sigma of each plotted statistic, by (chart, index): the chart's own ``_stats`` replayed.

    The replay follows the chart's judging: a point whose statistic overflows is not
    plotted and does not advance the carried state (a moving range's previous value).
    """
    carry = detector._new_carry(params)
    found: dict[tuple[str, int], float] = {}
    for index, x in enumerate(data):
        trial = dict(carry)
        stats = detector._stats(detector._check(x), params, trial)
        if any(
            math.isinf(s.value)
            or not math.isfinite(s.center)
            or (s.lcl is not None and not math.isfinite(s.lcl))
            or (s.ucl is not None and not math.isfinite(s.ucl))
            for s in stats
        ):
            continue
        carry = trial
        for s in stats:
            if not math.isnan(s.value):
                found[(s.chart, index)] = s.sigma
    return found


def _sizes(data: Sequence[Observation]) -> list[float]:
    """Subgroup sizes (attribute ``size``, or the length of a subgroup) for reporting."""
    sizes: list[float] = []
    for x in data:
        if isinstance(x, Mapping):
            sizes.append(float(x.get("size", 1.0)))
        elif isinstance(x, Sequence) and not isinstance(x, (str, bytes)):
            sizes.append(float(len(x)))
        else:
            sizes.append(1.0)
    return sizes


def analyze(
    chart: str,
    data: Sequence[Observation],
    phase1: int | None = None,
    sigma: str | None = None,
    rules: RuleSet | str | Iterable[int] | None = None,
    convention: str = "minitab",
    rules_on_dispersion: bool = False,
    **options: Any,
) -> AnalysisResult:
    """Analyse ``data`` with a chart of type ``chart`` (a registered chart's name).

    ``phase1``: how many leading observations estimate the limits (default: all).
    ``sigma``: the sigma method (``mr``, ``median_mr``, ``sd``, ``overall`` for individuals;
    ``uwave-r``, ``uwave-sd``, ``mvlue-r`` (``rbar``), ``mvlue-sd`` (``sbar``), ``pooled``
    (``rmsdf``), ``overall`` for subgroups; ``by_part``/``pooled`` for zmr).
    ``rules``: see :func:`parse_rules`. ``convention``: ``minitab`` (default) or ``qcc``
    (see :mod:`~linewatch.detectors.spc.conventions`). ``rules_on_dispersion``: judge the
    R/S/moving-range charts by ``rules`` too (default: test 1 only).
    Options: ``k_sigma``, ``passes`` (phase-I exclusion passes), ``center``,
    ``known_sigma`` (with ``center``/``target``: known limits, no phase I), ``constants``;
    ``lsl``, ``usl``, ``target``, ``alpha`` (capability, t2); ``k``, ``h``, ``headstart``
    (cusum); ``lam``, ``L``, ``steady_state`` (ewma); ``names`` (t2); ``sigma_z`` (laney).
    """
    try:
        info = chart_info(chart)
    except KeyError:
        raise ValueError(f"unknown chart {chart!r}; choose from {chart_names()}") from None
    convention = check_convention(convention)
    n = len(data)
    if info.kind == "capability":
        for i, x in enumerate(data):
            try:  # each value checked here so that a refusal names its observation
                if isinstance(x, Mapping):
                    raise DetectorInputError(f"capability takes numbers or subgroups, got {x!r}")
                if isinstance(x, Sequence):
                    as_values(x, "value")
                else:
                    finite(x, "value")
            except DetectorInputError as exc:
                raise AnalysisInputError(i, str(exc)) from None
        result = capability(
            list(data),
            lsl=options.get("lsl"),
            usl=options.get("usl"),
            target=options.get("target"),
            sigma_method=sigma,
            sigma_within=options.get("known_sigma"),
            alpha=float(options.get("alpha", 0.05)),
            convention=convention,
            constants=options.get("constants"),
        )
        return AnalysisResult(
            chart, n, n, {"mean": result.mean}, result.sigma_within, [], {}, result, convention
        )
    size = n if phase1 is None else phase1
    if not 0 < size <= n:
        raise ValueError(f"phase1 must be between 1 and the {n} observations, got {phase1}")
    settings = _settings(
        size, sigma, parse_rules(rules), dict(options), convention, rules_on_dispersion
    )
    detector = info.build(settings)
    if not isinstance(detector, PhaseIChart):
        raise ValueError(f"chart {chart!r} has no batch analysis (it is not a phase-I chart)")
    for i, x in enumerate(data):
        try:
            detector._check(x)
        except DetectorInputError as exc:
            raise AnalysisInputError(i, str(exc)) from None
    stamps = [_EPOCH + timedelta(seconds=i) for i in range(n)]
    series: dict[str, ChartSeries] = {}
    for i, (ts, x) in enumerate(zip(stamps, data, strict=True)):
        try:
            evaluation = detector.update(ts, x)
        except DetectorInputError as exc:
            cause = exc.__cause__
            if isinstance(cause, DetectorInputError):  # phase I failed; a batch has no "later"
                raise AnalysisInputError(i, f"phase I cannot set limits: {cause}") from None
            raise AnalysisInputError(i, str(exc)) from None
        for point in evaluation.points:
            s = series.setdefault(point.chart, ChartSeries())
            s.index.append(point.index)
            s.value.append(point.value)
            s.center.append(point.center)
            s.lcl.append(point.lcl)
            s.ucl.append(point.ucl)
            for rule in point.rules:
                s.violations.setdefault(rule, []).append(point.index)
    if not detector.has_limits:
        raise ValueError(f"phase I needs {size} observations, got {n}")
    params = detector.params or {}
    sigmas = _point_sigmas(detector, data, params)
    for name, s in series.items():
        s.sigma = [sigmas.get((name, i)) for i in s.index]
    return AnalysisResult(
        chart,
        n,
        size,
        params,
        process_sigma(chart, params, _sizes(data[:size])),
        list(detector.excluded),
        series,
        None,
        convention,
    )
