"""What every SPC chart shares: phase I, versioned limits, judging points against rules.

A chart subclass says how to validate an observation (:meth:`PhaseIChart._check`), how to
estimate its parameters from a phase-I window (:meth:`PhaseIChart._estimate`), and which
statistics an observation plots (:meth:`PhaseIChart._stats`); this base does the rest:

* **Phase I.** The first ``phase1`` observations are collected and nothing is plotted.
  The observation that completes the window estimates the parameters and returns *all*
  phase-I points judged against them (with their signals), so that the stream's output
  concatenated equals the batch analysis. With ``phase1_passes > 0``, phase-I observations
  beyond the limits (test 1 on any of the chart's statistics) are excluded and the
  parameters re-estimated, up to that many times; excluded points are still plotted.
  (Charts listed in ``exclusion_charts`` decide; I-MR uses the individuals chart only,
  since one outlier also makes its neighbour's moving range large.)
* **Phase II.** Later observations are judged against the frozen limits.
* **Versions.** ``limits_version`` is 0 before any limits, then grows by one each time limits
  are (re)established, effective from the timestamp of the observation that completed the
  window (``None`` for limits given in the constructor). :meth:`restart_phase1` starts a new
  window; the earlier points keep the version they were plotted with. :meth:`seed_limits`
  installs limits estimated elsewhere (an approved limits file) under their own version
  number, so the chart judges from its first observation.
* **Values that overflow.** A phase-II observation whose statistic or limits would not be
  finite (a z of a value far beyond a tiny sigma, say) is refused with
  :class:`~linewatch.detectors.base.DetectorInputError` before it changes any state. When
  the phase-I window cannot be estimated (all values equal, a singular covariance, no
  nonconforming item) the completing observation is reported with DetectorInputError and
  the window slides: its oldest observation is dropped (its index is skipped), so phase I
  never holds more than ``phase1`` and an outlier leaves the window after ``phase1`` more.
* **Rules.** Each plotted chart has its own :class:`~linewatch.detectors.spc.rules.RuleState`; rule
  state carries on from phase I into phase II, so run tests see one continuous sequence.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, NamedTuple

from linewatch.detectors.base import (
    Detector,
    DetectorInputError,
    Evaluation,
    Observation,
    PlotPoint,
    Signal,
    empty_evaluation,
)
from linewatch.detectors.spc.rules import RuleSet, RuleState, rule_names

__all__ = ["LimitsVersion", "PhaseIChart", "Stat", "zone_for"]

_MAX_VERSIONS_KEPT = 8


def check_shewhart_args(
    k_sigma: float,
    sigma: float | None,
    limits: Mapping[str, Sequence[float]] | None,
    charts: Sequence[str],
) -> None:
    """The constructor checks the variables charts (I-MR, Xbar-R/S) share."""
    if not k_sigma > 0:
        raise ValueError(f"k_sigma must be positive, got {k_sigma}")
    if sigma is not None and not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    if limits is not None and set(limits) != set(charts):
        raise ValueError(f"limits must give (center, lcl, ucl) for {tuple(charts)}")


class Stat(NamedTuple):
    """One plotted statistic with its center, its own sigma and its (clipped) limits."""

    chart: str
    value: float
    center: float
    sigma: float
    lcl: float | None
    ucl: float | None


class LimitsVersion(NamedTuple):
    """One generation of limits: its number, when it took effect, and the parameters."""

    version: int
    effective_from: datetime | None
    params: dict[str, Any]


def zone_for(
    value: float, center: float, s_up: float, s_lo: float, lcl: float | None, ucl: float | None
) -> str:
    """Western Electric zone from the point's own sigma (``"C"``, ``"B"``, ``"A"``, ``"beyond"``).

    >>> zone_for(2.5, 0.0, 1.0, 1.0, -3.0, 3.0), zone_for(0.0, 0.0, 1.0, 1.0, 0.0, 3.0)
    ('A', 'C')
    """
    if (ucl is not None and value > ucl) or (lcl is not None and value < lcl):
        return "beyond"
    sigma = s_up if value >= center else s_lo
    if not sigma > 0.0:
        return "C"
    distance = abs(value - center)
    if distance <= sigma:
        return "C"
    if distance <= 2.0 * sigma:
        return "B"
    return "A"


class PhaseIChart(Detector):
    """Base of the SPC charts (see the module docstring); not used directly."""

    #: Names of the plotted charts, location chart first.
    charts: ClassVar[tuple[str, ...]] = ()
    #: Charts judged by a single limit rule (name) instead of Nelson's tests.
    limit_rules: ClassVar[Mapping[str, str]] = {}
    #: Charts that get ``dispersion_rules`` instead of ``rules``.
    dispersion_charts: ClassVar[frozenset[str]] = frozenset()
    #: Charts whose test-1 failures exclude a phase-I observation (``None``: all charts).
    exclusion_charts: ClassVar[frozenset[str] | None] = None

    # -- to implement -------------------------------------------------------------------

    @abc.abstractmethod
    def _check(self, x: Observation) -> Any:
        """The observation validated, as JSON-able plain data; raises DetectorInputError."""
        raise NotImplementedError

    @abc.abstractmethod
    def _estimate(self, observations: Sequence[Any], keep: Sequence[bool]) -> dict[str, Any]:
        """Parameters from the phase-I observations whose ``keep`` is true."""
        raise NotImplementedError

    def _screen(self, observations: Sequence[Any]) -> list[bool]:
        """Which phase-I observations may enter the estimate at all (the others are excluded)."""
        return [True] * len(observations)

    def _known(self) -> dict[str, Any] | None:
        """Parameters given in the constructor, or ``None`` to estimate them in phase I."""
        return None

    @abc.abstractmethod
    def _stats(self, obs: Any, params: dict[str, Any], carry: dict[str, Any]) -> tuple[Stat, ...]:
        """Statistics ``obs`` plots; ``carry`` holds running values (previous point, sums)."""
        raise NotImplementedError

    def _new_carry(self, params: dict[str, Any]) -> dict[str, Any]:
        """Running values at the start of a judged sequence (phase I restarts them)."""
        return {}

    # -- shared machinery ---------------------------------------------------------------

    def _rules_for(self, chart: str) -> RuleSet:
        if chart in self.dispersion_charts:
            rules = getattr(self, "dispersion_rules", None)
            return rules if rules is not None else RuleSet(tests=(1,))
        rules = getattr(self, "rules", None)
        return rules if rules is not None else RuleSet(tests=(1,))

    def _init_state(self) -> None:
        """Learned state, built from the constructor arguments; call at the end of __init__."""
        self._count = 0
        self._buffer: list[Any] = []
        self._buffer_ts: list[datetime] = []
        self._excluded: list[int] = []
        self._versions: list[LimitsVersion] = []
        self._rule_states = {
            c: RuleState(self._rules_for(c)) for c in self.charts if c not in self.limit_rules
        }
        self._k1 = {c: float(self._rules_for(c).k_of(1)) for c in self.charts}
        self._params: dict[str, Any] | None = None
        self._carry: dict[str, Any] = {}
        known = self._known()
        if known is not None:
            self._install(known, None)

    @property
    def has_limits(self) -> bool:
        return self._params is not None

    @property
    def params(self) -> dict[str, Any] | None:
        """Current parameters (center, sigma, ...), or ``None`` during phase I."""
        return None if self._params is None else dict(self._params)

    @property
    def limits_version(self) -> int:
        return self._versions[-1].version if self._versions else 0

    @property
    def limits_history(self) -> tuple[LimitsVersion, ...]:
        """The most recent limit generations (at most 8), oldest first."""
        return tuple(self._versions)

    @property
    def excluded(self) -> tuple[int, ...]:
        """Indices of phase-I observations left out of the last estimation."""
        return tuple(self._excluded)

    def restart_phase1(self) -> None:
        """Collect a new phase-I window; its completion makes the next limits version."""
        self._params = None
        self._buffer, self._buffer_ts = [], []

    @property
    def observed(self) -> int:
        """Observations taken so far (phase-I ones once judged, or dropped by a slide)."""
        return self._count

    @property
    def phase1_progress(self) -> tuple[int, int]:
        """Observations collected for the open phase-I window, and how many it needs."""
        return (len(self._buffer), self._phase1_size()) if self._params is None else (0, 0)

    def seed_limits(
        self, params: Mapping[str, Any], effective_from: datetime | None, version: int
    ) -> None:
        """Start in phase II against limits estimated elsewhere (an approved limits file).

        ``params`` are what :meth:`_estimate` of the same chart gave; the points carry
        ``version`` as their limits version. Whatever phase I had collected is dropped.
        """
        if version < 1:
            raise ValueError(f"a limits version counts from 1, got {version}")
        self._buffer, self._buffer_ts, self._excluded = [], [], []
        # _install numbers the new version one above the last: start it just below.
        self._versions = [LimitsVersion(version - 1, None, {})]
        self._install(dict(params), effective_from)
        del self._versions[:-1]

    def _install(self, params: dict[str, Any], ts: datetime | None) -> None:
        self._params = params
        self._versions.append(LimitsVersion(self.limits_version + 1, ts, params))
        del self._versions[:-_MAX_VERSIONS_KEPT]
        for state in self._rule_states.values():
            state.reset()
        self._carry = self._new_carry(params)

    def update(self, ts: datetime, x: Observation) -> Evaluation:
        obs = self._check(x)
        if self._params is None:
            self._buffer.append(obs)
            self._buffer_ts.append(ts)
            if len(self._buffer) < self._phase1_size():
                return empty_evaluation()
            return self._complete_phase1(ts)
        points: list[PlotPoint] = []
        signals: list[Signal] = []
        self._judge(ts, self._count, obs, points, signals)
        self._count += 1  # only once judged: a rejected observation leaves no trace
        return Evaluation(tuple(points), tuple(signals))

    def _phase1_size(self) -> int:
        return int(getattr(self, "phase1", 1))

    def _complete_phase1(self, ts: datetime) -> Evaluation:
        observations, stamps = self._buffer, self._buffer_ts
        keep = self._screen(observations)
        try:
            params = self._estimate(observations, keep)
        except DetectorInputError as exc:
            # The window slides: drop its oldest observation (its index is skipped), so
            # the buffer never outgrows ``phase1`` and one outlier that makes the window
            # inestimable (a singular covariance, say) leaves it after ``phase1`` more.
            del observations[0], stamps[0]
            self._count += 1
            raise DetectorInputError(
                f"phase I cannot set limits yet: {exc} (its oldest observation is dropped "
                "and phase I goes on)"
            ) from exc
        considered = self.exclusion_charts
        for _ in range(int(getattr(self, "phase1_passes", 0))):
            carry = self._new_carry(params)
            beyond = [
                i
                for i, obs in enumerate(observations)
                if keep[i]
                and any(
                    (s.ucl is not None and s.value > s.ucl)
                    or (s.lcl is not None and s.value < s.lcl)
                    for s in self._stats(obs, params, carry)
                    if considered is None or s.chart in considered
                )
            ]
            if not beyond or len(beyond) >= sum(keep) - 1:
                break
            for i in beyond:
                keep[i] = False
            params = self._estimate(observations, keep)
        first = self._count
        self._excluded = [first + i for i, k in enumerate(keep) if not k]
        self._install(params, ts)
        self._buffer, self._buffer_ts = [], []
        points: list[PlotPoint] = []
        signals: list[Signal] = []
        for obs, stamp in zip(observations, stamps, strict=True):
            index = self._count
            self._count += 1
            try:
                self._judge(stamp, index, obs, points, signals)
            except DetectorInputError:
                continue  # its statistic overflows: not plotted (it did enter the estimate)
        return Evaluation(tuple(points), tuple(signals))

    def _judge(
        self, ts: datetime, index: int, obs: Any, points: list[PlotPoint], signals: list[Signal]
    ) -> None:
        """Plot and judge ``obs``; refuses it, changing nothing, if a statistic overflows."""
        assert self._params is not None
        version = self.limits_version
        carry = dict(self._carry)
        stats = self._stats(obs, self._params, carry)
        for stat in stats:  # plain expressions: this runs for every point
            lcl, ucl = stat.lcl, stat.ucl
            if (
                math.isinf(stat.value)
                or not math.isfinite(stat.center)
                or (lcl is not None and not math.isfinite(lcl))
                or (ucl is not None and not math.isfinite(ucl))
            ):
                raise DetectorInputError(
                    f"implausible value: its {stat.chart} statistic overflows "
                    f"({stat.value!r} against center {stat.center!r})"
                )
        self._carry = carry
        for stat in stats:
            chart, value, center, sigma, lcl, ucl = stat
            if math.isnan(value):
                continue  # nothing to plot yet (e.g. the first moving range)
            rule = self.limit_rules.get(chart)
            if rule is not None:
                fired = (ucl is not None and value > ucl) or (lcl is not None and value < lcl)
                names: tuple[str, ...] = (rule,) if fired else ()
                zone = "beyond" if fired else ""
                points.append(
                    PlotPoint(ts, chart, index, value, center, lcl, ucl, version, zone, names)
                )
                if fired:
                    signals.append(
                        Signal(
                            ts,
                            rule,
                            chart,
                            index,
                            value,
                            center,
                            lcl,
                            ucl,
                            self._limit_description(chart),
                        )
                    )
                continue
            k1 = self._k1[chart]
            if k1 == getattr(self, "k_sigma", 3.0):
                hi1 = math.inf if ucl is None else ucl
                lo1 = -math.inf if lcl is None else lcl
            else:
                hi1, lo1 = center + k1 * sigma, center - k1 * sigma
            mask = self._rule_states[chart].step(value, center, sigma, sigma, hi1, lo1)
            zone = zone_for(value, center, sigma, sigma, lcl, ucl)
            names = rule_names(mask) if mask else ()
            points.append(
                PlotPoint(ts, chart, index, value, center, lcl, ucl, version, zone, names)
            )
            if mask:
                rules = self._rules_for(chart)
                for name in names:
                    test = int(name[6:])
                    signals.append(
                        Signal(
                            ts, name, chart, index, value, center, lcl, ucl, rules.describe(test)
                        )
                    )

    def _limit_description(self, chart: str) -> str:
        return f"{chart} beyond its control limit"

    # -- state --------------------------------------------------------------------------

    def _get_state(self) -> dict[str, Any]:
        return {
            "count": self._count,
            "buffer": list(self._buffer),
            "buffer_ts": [t.isoformat() for t in self._buffer_ts],
            "excluded": list(self._excluded),
            "versions": [
                [
                    v.version,
                    None if v.effective_from is None else v.effective_from.isoformat(),
                    v.params,
                ]
                for v in self._versions
            ],
            "params": self._params,
            "carry": self._carry,
            "rules": {c: s.to_state() for c, s in self._rule_states.items()},
        }

    def _set_state(self, state: Mapping[str, Any]) -> None:
        self._count = int(state["count"])
        self._buffer = list(state["buffer"])
        self._buffer_ts = [datetime.fromisoformat(t) for t in state["buffer_ts"]]
        self._excluded = list(state["excluded"])
        self._versions = [
            LimitsVersion(int(v), None if t is None else datetime.fromisoformat(t), p)
            for v, t, p in state["versions"]
        ]
        self._params = state["params"]
        self._carry = dict(state["carry"])
        for chart, rule_state in state["rules"].items():
            self._rule_states[chart].load(list(rule_state))
