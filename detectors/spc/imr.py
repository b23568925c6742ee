"""I-MR: an individuals chart with its moving-range chart (span 2).

Individuals: center x-bar (or the given ``center``), limits ``center ± k_sigma·sigma``.
Moving range: center ``d2(2)·sigma``, limits ``(d2(2) ± k_sigma·d3(2))·sigma`` with the lower
limit clipped at 0 (with sigma = MR-bar/d2 the upper limit is D4·MR-bar = 3.267·MR-bar).
The moving-range chart starts at the second observation: its points carry the index of the
observation that completes them, so index 0 exists only on the individuals chart.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

import numpy as np

from linewatch.detectors.base import (
    MAX_MAGNITUDE,
    MIN_SIGMA,
    DetectorInputError,
    Evaluation,
    Observation,
    PlotPoint,
    Signal,
    finite,
)
from linewatch.detectors.registry import register_chart
from linewatch.detectors.spc.chart import PhaseIChart, Stat, check_shewhart_args
from linewatch.detectors.spc.columnar import IMRColumns, judge_columns
from linewatch.detectors.spc.constants import d2, d3
from linewatch.detectors.spc.estimators import median_mr_sigma, mr_sigma, overall_sigma, sd_sigma
from linewatch.detectors.spc.rules import RuleSet, RuleState
from linewatch.detectors.spc.rules import described as rule_descriptions
from linewatch.detectors.spc.steppers import step

__all__ = ["IMR_SIGMA_METHODS", "IMRChart"]

IMR_SIGMA_METHODS = ("mr", "median_mr", "overall", "sd")

_NAN = math.nan


class IMRChart(PhaseIChart):
    """Individuals and moving-range chart; observations are floats.

    Parameters: ``phase1`` observations estimate the center and sigma (by ``sigma_method``:
    ``"mr"`` MR-bar/d2(2), ``"median_mr"``, ``"overall"`` the plain sample SD, ``"sd"`` the
    sample SD over c4(n) as qcc's ``std.dev="SD"``), unless ``center`` and ``sigma``
    are given, or ``limits`` gives ``{chart: (center, lcl, ucl)}`` for both charts.
    ``rules`` applies to the individuals chart, ``dispersion_rules`` to the moving ranges
    (test 1 only unless asked). ``phase1_passes``: times to drop phase-I points beyond the
    limits and re-estimate. ``constants``: ``"table"``, ``"exact"`` or ``"qcc"`` d2/d3.

    >>> from datetime import datetime, timezone
    >>> ts = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> chart = IMRChart(phase1=4)
    >>> [len(chart.update(ts, x).points) for x in [10.0, 12.0, 11.0]]
    [0, 0, 0]
    >>> phase1 = chart.update(ts, 13.0)
    >>> [(p.chart, p.index, p.value) for p in phase1.points[:3]]
    [('individuals', 0, 10.0), ('individuals', 1, 12.0), ('moving_range', 1, 2.0)]
    >>> round(chart.params["center"], 3), round(chart.params["sigma"], 3)
    (11.5, 1.478)
    >>> [s.rule for s in chart.update(ts, 20.0).signals]
    ['nelson1', 'nelson1']
    """

    charts: ClassVar[tuple[str, ...]] = ("individuals", "moving_range")
    dispersion_charts: ClassVar[frozenset[str]] = frozenset({"moving_range"})
    exclusion_charts: ClassVar[frozenset[str] | None] = frozenset({"individuals"})

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        """Settings the generic checks run this chart with."""
        return [
            {"phase1": 20, "rules": RuleSet.nelson()},
            {"center": 10.0, "sigma": 1.0, "rules": RuleSet.nelson()},
            {"phase1": 30, "phase1_passes": 2},
        ]

    def __init__(
        self,
        phase1: int = 20,
        k_sigma: float = 3.0,
        sigma_method: str = "mr",
        center: float | None = None,
        sigma: float | None = None,
        limits: Mapping[str, Sequence[float]] | None = None,
        rules: RuleSet | None = None,
        dispersion_rules: RuleSet | None = None,
        phase1_passes: int = 0,
        constants: str = "table",
    ) -> None:
        if phase1 < 2:
            raise ValueError(f"phase1 must be at least 2, got {phase1}")
        if sigma_method not in IMR_SIGMA_METHODS:
            raise ValueError(
                f"sigma_method must be one of {IMR_SIGMA_METHODS}, got {sigma_method!r}"
            )
        check_shewhart_args(k_sigma, sigma, limits, self.charts)
        self.phase1 = phase1
        self.k_sigma = k_sigma
        self.sigma_method = sigma_method
        self.center = center
        self.sigma = sigma
        self.limits = limits
        self.rules = rules
        self.dispersion_rules = dispersion_rules
        self.phase1_passes = phase1_passes
        self.constants = constants
        self._d2 = d2(2, constants)
        self._d3 = d3(2, constants)
        self._fast: tuple[tuple[Any, ...], tuple[Any, ...]] | None = None
        self._init_state()
        self._ind_rules: RuleState = self._rule_states["individuals"]
        self._mr_rules: RuleState = self._rule_states["moving_range"]
        self._fast = self._plan()

    def _check(self, x: Observation) -> float:
        if isinstance(x, (Mapping, str, bytes, Sequence)):
            raise DetectorInputError(f"{type(self).__name__} takes one number, got {x!r}")
        return finite(x)

    def _known(self) -> dict[str, Any] | None:
        if self.limits is not None:
            return {"given": {c: [float(v) for v in self.limits[c]] for c in self.charts}}
        if self.center is not None and self.sigma is not None:
            return {"center": float(self.center), "sigma": float(self.sigma)}
        return None

    def _estimate(self, observations: Sequence[Any], keep: Sequence[bool]) -> dict[str, Any]:
        kept = [x for x, k in zip(observations, keep, strict=True) if k]
        center = float(self.center) if self.center is not None else math.fsum(kept) / len(kept)
        if self.sigma is not None:
            sigma = float(self.sigma)
        elif self.sigma_method == "mr":
            sigma = mr_sigma(observations, keep, self.constants)
        elif self.sigma_method == "median_mr":
            sigma = median_mr_sigma(observations, keep)
        elif self.sigma_method == "sd":
            sigma = sd_sigma(kept)
        else:
            sigma = overall_sigma(kept)
        if not sigma >= MIN_SIGMA:
            raise DetectorInputError(
                f"phase I gives sigma = {sigma!r}; are all values equal?"
                f" (sigma must be >= {MIN_SIGMA!r})"
            )
        return {"center": center, "sigma": sigma}

    def _new_carry(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"previous": None}

    def _stats(self, obs: Any, params: dict[str, Any], carry: dict[str, Any]) -> tuple[Stat, ...]:
        previous = carry["previous"]
        carry["previous"] = obs
        mr = _NAN if previous is None else abs(obs - previous)
        given = params.get("given")
        if given is not None:
            return (
                _given_stat("individuals", obs, given, self.k_sigma),
                _given_stat("moving_range", mr, given, self.k_sigma),
            )
        center, sigma, k = params["center"], params["sigma"], self.k_sigma
        mr_center = self._d2 * sigma
        mr_sigma_ = self._d3 * sigma
        return (
            Stat("individuals", obs, center, sigma, center - k * sigma, center + k * sigma),
            Stat(
                "moving_range",
                mr,
                mr_center,
                mr_sigma_,
                max(0.0, mr_center - k * mr_sigma_),
                mr_center + k * mr_sigma_,
            ),
        )

    # -- the fast phase-II path ----------------------------------------------------------
    #
    # ``update`` below is the base class's phase-II path (``_stats`` + ``_judge`` +
    # ``RuleState.step``) specialised to I-MR: every limit, zone boundary and test-1
    # threshold is computed once per limits version by the same expressions the generic
    # path evaluates per point (so the floats are identical), the individuals chart's eight
    # tests run inline on the same ``RuleState``, and the results are built without the
    # dataclasses' slow frozen ``__init__``. Anything unusual (phase I, a value that is not a
    # finite float, sigma <= 0) takes the generic path. ``tests/unit/spc/
    # test_batch_equals_stream.py`` checks both paths against each other.

    def _install(self, params: dict[str, Any], ts: datetime | None) -> None:
        super()._install(params, ts)
        if hasattr(self, "_ind_rules"):  # during __init__, the plan is made afterwards
            self._fast = self._plan()

    def restart_phase1(self) -> None:
        super().restart_phase1()
        self._fast = None

    def _set_state(self, state: Mapping[str, Any]) -> None:
        super()._set_state(state)
        self._fast = self._plan()

    def _plan(self) -> tuple[tuple[Any, ...], tuple[Any, ...]] | None:
        """Per-version constants of the fast path, or ``None`` to use the generic path."""
        params = self._params
        if params is None:
            return None
        ind, mr = self._stats(0.0, params, {"previous": 0.0})
        k_sigma = self.k_sigma
        version = self.limits_version
        plans: list[tuple[Any, ...]] = []
        for stat in (ind, mr):
            _, _, center, sigma, lcl, ucl = stat
            if not sigma > 0.0 or lcl is None or ucl is None:
                return None
            k1 = self._k1[stat.chart]
            if k1 == k_sigma:
                hi1, lo1 = ucl, lcl
            else:
                hi1, lo1 = center + k1 * sigma, center - k1 * sigma
            state = self._rule_states[stat.chart]
            plans.append(
                (
                    version,
                    center,
                    sigma,
                    2.0 * sigma,
                    lcl,
                    ucl,
                    hi1,
                    lo1,
                    center + sigma,
                    center - sigma,
                    center + 2.0 * sigma,
                    center - 2.0 * sigma,
                    rule_descriptions(self._rules_for(stat.chart)),
                    state.enabled,
                    state.k2,
                    state.k3,
                    state.k4,
                    state.k5,
                    state.k6,
                    state.k7,
                    state.k8,
                    state.mask5,
                    state.mask6,
                )
            )
        return plans[0], plans[1]

    def update(self, ts: datetime, x: Observation) -> Evaluation:
        fast = self._fast
        # x - x is 0.0 only for a finite x; the magnitude check mirrors ``finite``
        if fast is None or type(x) is not float or x - x != 0.0 or abs(x) > MAX_MAGNITUDE:
            return super().update(ts, x)
        plan, mr_plan = fast
        index = self._count
        self._count = index + 1
        carry = self._carry
        previous = carry["previous"]
        carry["previous"] = x
        signals: list[Signal] = []
        point = _judge(self._ind_rules, plan, ts, "individuals", index, x, signals)
        if previous is None:
            return Evaluation((point,), tuple(signals))
        mpoint = _judge(
            self._mr_rules, mr_plan, ts, "moving_range", index, abs(x - previous), signals
        )
        return Evaluation((point, mpoint), tuple(signals) if signals else ())

    # -- the vectorised batch path --------------------------------------------------------

    def update_many(self, ts: Sequence[datetime], xs: Sequence[Observation]) -> list[Evaluation]:
        """Same output and final state as :meth:`update` on each; phase II is vectorised.

        Phase I (and any batch holding something other than finite floats) goes through
        :meth:`update` one by one; once limits exist, the rest of the batch is judged with
        numpy (:meth:`update_batch`) and only the result objects are built in a loop.
        """
        n = len(xs)
        if len(ts) != n:
            raise DetectorInputError(f"{len(ts)} timestamps for {n} observations")
        if n < _MIN_BATCH or not all(type(v) is float for v in xs):
            return [self.update(t, x) for t, x in zip(ts, xs, strict=True)]
        # The results hold no reference cycles, but creating ~3 objects per sample that all
        # stay alive triggers repeated full cyclic-GC passes over them (3-4x the cost of
        # the loop); pause the collector while they are built.
        paused = gc.isenabled()
        gc.disable()
        try:
            batch = self.update_batch(ts, xs)  # type: ignore[arg-type]
            return [*batch.head, *batch.evaluations()]
        finally:
            if paused:
                gc.enable()

    def update_batch(self, ts: Sequence[datetime], xs: Sequence[float] | np.ndarray) -> IMRColumns:
        """:meth:`update` on each of ``xs`` (floats), the results kept as columns.

        Iterating the result gives exactly the evaluations :meth:`update` returns one by
        one, and the chart ends in the same state; but nothing per sample is built until
        it is asked for (:meth:`IMRColumns.signals` builds only the signalling points).
        Phase I goes through :meth:`update`; a value that is not finite ends the columnar
        part, and the rest goes one by one (raising at that value, as :meth:`update` does).
        """
        n = len(xs)
        if len(ts) != n:
            raise DetectorInputError(f"{len(ts)} timestamps for {n} observations")
        array = np.asarray(xs, dtype=np.float64)
        head: list[Evaluation] = []
        update = self.update
        i = 0
        while i < n and self._fast is None:
            head.append(update(ts[i], float(array[i])))
            i += 1
        rest = array[i:]
        if rest.size and not (np.isfinite(rest).all() and (np.abs(rest) <= MAX_MAGNITUDE).all()):
            head += [update(ts[j], float(array[j])) for j in range(i, n)]
            i, rest = n, array[n:]
        stamps = ts[i:] if i else ts
        if not rest.size or self._fast is None:
            head += [update(ts[j], float(array[j])) for j in range(i, n)]
            return IMRColumns(head, stamps, array[n:], self._count, False, _NO_PLANS, _NONE)
        index0 = self._count
        previous = self._carry["previous"]
        plans = self._fast
        columns = judge_columns(self._ind_rules, self._mr_rules, plans, previous, rest)
        self._count = index0 + rest.size
        self._carry["previous"] = float(rest[-1])
        return IMRColumns(head, stamps, rest, index0, previous is None, plans, columns)


def _judge(
    rs: RuleState,
    plan: tuple[Any, ...],
    ts: datetime,
    chart: str,
    index: int,
    x: float,
    signals: list[Signal],
) -> PlotPoint:
    """Phase-II point of one chart from its precomputed plan; its signals go to ``signals``."""
    (
        version,
        c,
        s,
        s2,
        lcl,
        ucl,
        hi1,
        lo1,
        cu1,
        cl1,
        cu2,
        cl2,
        described,
        enabled,
        k2,
        k3,
        k4,
        k5,
        k6,
        k7,
        k8,
        m5,
        m6,
    ) = plan
    fired = (
        step(rs, x, c, hi1, lo1, cu1, cl1, cu2, cl2, k2, k3, k4, k5, k6, k7, k8, m5, m6) & enabled
    )
    if x > ucl or x < lcl:
        zone = "beyond"
    else:
        d = abs(x - c)
        zone = "C" if d <= s else "B" if d <= s2 else "A"
    if not fired:
        return PlotPoint(ts, chart, index, x, c, lcl, ucl, version, zone)
    names, signalled = described[fired]
    signals += [Signal(ts, name, chart, index, x, c, lcl, ucl, text) for name, text in signalled]
    return PlotPoint(ts, chart, index, x, c, lcl, ucl, version, zone, names)


_MIN_BATCH = 16  # below this, numpy's fixed costs outweigh its speed
_NO_PLANS: tuple[tuple[Any, ...], tuple[Any, ...]] = ((), ())
_NO_COLUMN = np.zeros(0, dtype=np.uint8)
_NONE = (_NO_COLUMN, _NO_COLUMN, np.zeros(0), _NO_COLUMN, _NO_COLUMN)


def _given_stat(
    chart: str, value: float, given: Mapping[str, Sequence[float]], k_sigma: float
) -> Stat:
    center, lcl, ucl = given[chart]
    return Stat(chart, value, center, (ucl - lcl) / (2.0 * k_sigma), lcl, ucl)


register_chart(
    "imr",
    IMRChart,
    kind="variables",
    takes="value",
    description="Individuals and moving range (I-MR): one value at a time",
    sigma_methods=IMR_SIGMA_METHODS,
)
