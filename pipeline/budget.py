"""The false-alarm budget of a config: expected in-control alarms a day, per chart and line.

For each charted statistic (X-bar and its R or S chart are two; each has its own alert
fingerprint) the expected false alarms a day are alerts, as a shift lead sees them: an
alert fires on a signal, counts further signals as occurrences and resolves after
``alerting.resolve_after_points`` clean points, so one alarm takes ARL0 points to come
and about ``resolve_after_points`` to go: ``points a day / (ARL0 + resolve_after_points)``
(for a rare alarm, close to the textbook ``points a day / ARL0``). The ARL0 comes from
:mod:`linewatch.detectors.spc.arl` (exact for test 1, Markov chain for EWMA and CUSUM,
seeded simulation for run rules). It assumes the limits are the process's true
mean and sigma: limits estimated from a short phase I make the real rate scatter around
it (from 50 subgroups of 5, sigma is within about ±5%, which moves a 3-sigma ARL0 of 370
between about 250 and 550).

Points a day come from, in order of preference: a history file (``--history``: the
observations of each stream over the file's time span), ``--rate`` (observations an hour
of every stream), or the config's ``simulation`` section for its line (one value of every
characteristic and parameter a part, a part every ``cycle_s``; an attribute lot every
``lot_size`` parts). A subgrouped chart plots one point per ``subgroup_size`` values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

from linewatch.detectors.registry import chart_info
from linewatch.detectors.spc.arl import (
    attribute_exceedance,
    cusum_arl,
    ewma_arl,
    rules_arl,
)
from linewatch.detectors.spc.rules import RuleSet
from linewatch.pipeline.config import CharacteristicConfig, Config, ParameterConfig
from linewatch.pipeline.factory import rule_set
from linewatch.pipeline.model_config import EquipmentModelConfig

__all__ = [
    "BudgetRow",
    "LineBudget",
    "StreamRates",
    "false_alarm_budget",
    "format_budget",
]

DAY_S = 86_400.0
#: Which statistic the R/S/MR charts standardise (for the run-rule simulation).
_DISPERSION = {"xbar-r": "range", "xbar-s": "stdev"}


@dataclass(frozen=True, slots=True)
class BudgetRow:
    """One charted statistic: its points a day, in-control ARL and false alarms a day."""

    line: str
    station: str
    stream: str
    chart: str
    rules: str
    points_per_day: float | None
    arl0: float | None
    method: str
    #: Clean points an alert needs to resolve (``alerting.resolve_after_points``).
    resolve_after: int = 0

    @property
    def per_day(self) -> float | None:
        """Expected false alarms a day (``None`` when the rate or the ARL is unknown)."""
        if self.points_per_day is None or self.arl0 is None:
            return None
        if math.isinf(self.arl0):
            return 0.0
        return self.points_per_day / (self.arl0 + self.resolve_after)


@dataclass(slots=True)
class LineBudget:
    """A line's rows, their total and the budget it is held to."""

    line: str
    budget: float | None
    rows: list[BudgetRow] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(r.per_day or 0.0 for r in self.rows)

    @property
    def unknown(self) -> list[BudgetRow]:
        return [r for r in self.rows if r.per_day is None]

    @property
    def over(self) -> bool:
        return self.budget is not None and self.total > self.budget


@dataclass(slots=True)
class StreamRates:
    """Observations a day per stream (``line/station/key``) and attribute lots' p and size.

    ``per_hour`` (``--rate``) applies to every stream that ``observed`` does not name;
    ``cycle_s``/``lot_size``/``defect_rate`` come from a simulation section.
    """

    observed: dict[str, float] = field(default_factory=dict)
    proportions: dict[str, tuple[float, float]] = field(default_factory=dict)
    per_hour: float | None = None
    simulated_line: str | None = None
    cycle_s: float | None = None
    lot_sizes: dict[str, int] = field(default_factory=dict)
    defect_rates: dict[str, float] = field(default_factory=dict)
    source: str = "none"

    @classmethod
    def from_config(cls, config: Config, per_hour: float | None = None) -> StreamRates:
        rates = cls(per_hour=per_hour, source="--rate" if per_hour else "none")
        sim = config.simulation
        if sim is not None:
            rates.simulated_line, rates.cycle_s = sim.line, float(sim.cycle_s)
            for station in sim.stations:
                if station.lot_size is not None:
                    rates.lot_sizes[station.name] = int(station.lot_size)
                for defect in station.defects:
                    rates.defect_rates[f"{station.name}/{defect.code}"] = float(defect.base_rate)
            if per_hour is None:
                rates.source = f"simulation (a part every {sim.cycle_s:g} s)"
        return rates

    def values_per_day(self, line: str, station: str, key: str) -> float | None:
        known = self.observed.get(f"{line}/{station}/{key}")
        if known is not None:
            return known
        if self.per_hour is not None:
            return self.per_hour * 24.0
        if line == self.simulated_line and self.cycle_s:
            return DAY_S / self.cycle_s
        return None

    def lots(self, line: str, station: str, key: str) -> tuple[float | None, float, float] | None:
        """(p, lot size, lots a day) of an attribute stream; p ``None`` when unknown."""
        known = self.proportions.get(f"{line}/{station}/{key}")
        per_day = self.observed.get(f"{line}/{station}/{key}")
        if known is not None and per_day is not None:
            return known[0], known[1], per_day
        size = self.lot_sizes.get(station)
        if line == self.simulated_line and self.cycle_s and size:
            return self.defect_rates.get(f"{station}/{key}"), size, DAY_S / (self.cycle_s * size)
        return None


def _rules_text(rules: RuleSet) -> str:
    return ",".join(str(t) for t in rules.tests) or "none"


def _stream_rows(
    line: str,
    station: str,
    key: str,
    spec: CharacteristicConfig | ParameterConfig,
    rates: StreamRates,
) -> Iterator[BudgetRow]:
    info = chart_info(spec.chart)

    def make(
        chart: str, rules: str, points_per_day: float | None, arl0: float | None, method: str
    ) -> BudgetRow:
        return BudgetRow(line, station, key, chart, rules, points_per_day, arl0, method)

    if info.kind == "attribute":
        lots = rates.lots(line, station, key)
        center = spec.limits.center if spec.limits is not None else None
        if lots is None:
            yield make(chart=spec.chart, rules="1", points_per_day=None,
                            arl0=None, method="no lot rate known")  # fmt: skip
            return
        p, size, per_day = lots
        p = center if center is not None else p
        if p is None or not 0.0 < p < 1.0 or spec.chart in ("c", "u", "laney-u"):
            method = "p unknown" if p is None else "not estimated"
            yield make(chart=spec.chart, rules="1", points_per_day=per_day,
                            arl0=None, method=method)  # fmt: skip
            return
        chance = attribute_exceedance(spec.chart, p, size, spec.k_sigma)
        arl = math.inf if chance <= 0.0 else 1.0 / chance
        yield make(chart=spec.chart, rules="1", points_per_day=per_day, arl0=arl,
                        method=f"binomial, p {p:g}, n {size:g}")  # fmt: skip
        return
    values = rates.values_per_day(line, station, key)
    points = None if values is None else values / spec.subgroup_size
    n = spec.subgroup_size
    if spec.chart == "ewma":
        arl = ewma_arl(spec.ewma.lam, spec.ewma.L)
        yield make(chart="ewma", rules="ewma", points_per_day=points, arl0=arl,
                        method=f"Markov chain, lambda {spec.ewma.lam:g}, L {spec.ewma.L:g}")  # fmt: skip
        return
    if spec.chart == "cusum":
        c = spec.cusum
        arl = cusum_arl(c.k, c.h, headstart=c.headstart)
        yield make(chart="cusum", rules="cusum", points_per_day=points, arl0=arl,
                        method=f"Markov chain, k {c.k:g}, h {c.h:g}")  # fmt: skip
        return
    if spec.chart not in ("imr", "xbar-r", "xbar-s", "zmr", *_EXTRA_INDIVIDUALS):
        yield make(chart=spec.chart, rules="?", points_per_day=points, arl0=None,
                        method="not estimated")  # fmt: skip
        return
    location, dispersion = rule_set(spec.rules), rule_set(spec.dispersion_rules)
    k = spec.k_sigma
    charts = info.cls.charts if hasattr(info.cls, "charts") else ("x", "mr")
    loc_arl = rules_arl(location, k)
    yield make(chart=charts[0], rules=_rules_text(location), points_per_day=points,
                    arl0=loc_arl, method=_method(location))  # fmt: skip
    if len(charts) > 1:
        stat = _DISPERSION.get(spec.chart)
        if stat is None:
            # the moving range of individuals is not independent point to point: simulate
            yield make(chart=charts[1], rules=_rules_text(dispersion),
                            points_per_day=points, arl0=_mr_arl(dispersion, k),
                            method="simulation (moving range)")  # fmt: skip
            return
        disp_arl = rules_arl(dispersion, k, stat, n)
        yield make(chart=charts[1], rules=_rules_text(dispersion),
                        points_per_day=points, arl0=disp_arl,
                        method=_method(dispersion, stat))  # fmt: skip


#: Individuals-style charts other modules register (the AR(1) residual chart).
_EXTRA_INDIVIDUALS: tuple[str, ...] = ("ar1",)


def _method(rules: RuleSet, statistic: str = "normal") -> str:
    if not rules.tests:
        return "no rules"
    if rules.tests == (1,):
        return {"normal": "normal tail", "range": "range distribution"}.get(statistic, "chi-square")
    return "simulation (run rules)"


def _mr_arl(rules: RuleSet, k: float) -> float:
    """Signal-onset spacing of an MR chart (``|x_i - x_{i-1}|``, limits ``d2 ± k d3``)."""
    if not rules.tests:
        return math.inf
    import numpy as np

    from linewatch.detectors.spc.constants import d2, d3

    rng = np.random.default_rng(20261202)
    x = rng.standard_normal(400_001)
    mr = np.abs(np.diff(x))
    ucl = d2(2) + float(rules.k_of(1) if 1 in rules.tests else k) * d3(2)
    beyond = mr > ucl
    onsets = int(np.count_nonzero(beyond[1:] & ~beyond[:-1]) + int(beyond[0]))
    return math.inf if onsets == 0 else len(mr) / onsets


def _model_rows(config: Config, rates: StreamRates) -> Iterator[BudgetRow]:
    for line in config.lines:
        for station in line.stations:
            parts = rates.values_per_day(line.name, station.name, "")
            for group in station.multivariate:
                yield BudgetRow(line.name, station.name, group.name, "t2", "t2", parts,
                                1.0 / group.alpha, f"F limit, alpha {group.alpha:g}")  # fmt: skip
            for model in station.models:
                if isinstance(model, EquipmentModelConfig):
                    yield BudgetRow(line.name, station.name, model.name, f"model:{model.type}",
                                    "score", parts, 1.0 / model.target_far,
                                    f"score quantile, target_far {model.target_far:g}")  # fmt: skip
                else:
                    yield BudgetRow(line.name, station.name, model.name, model.type, "-",
                                    None, None, "not estimated (learning model)")  # fmt: skip


def false_alarm_budget(config: Config, rates: StreamRates) -> list[LineBudget]:
    """Every line's expected false alarms a day, chart by chart (see the module docstring)."""
    budget = config.alerting.false_alarm_budget_per_day
    lines = {line.name: LineBudget(line.name, budget) for line in config.lines}
    for line in config.lines:
        for station in line.stations:
            for spec in station.characteristics:
                lines[line.name].rows.extend(
                    _stream_rows(line.name, station.name, spec.name, spec, rates)
                )
            for param in station.parameters:
                key = f"{param.equipment}/{param.name}"
                lines[line.name].rows.extend(
                    _stream_rows(line.name, station.name, key, param, rates)
                )
    for row in _model_rows(config, rates):
        lines[row.line].rows.append(row)
    resolve = config.alerting.resolve_after_points
    for line_budget in lines.values():
        line_budget.rows = [replace(r, resolve_after=resolve) for r in line_budget.rows]
    return list(lines.values())


def _number(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "?"
    if math.isinf(value):
        return "inf"
    return f"{value:,.{digits}f}"


def format_budget(lines: Iterable[LineBudget], source: str) -> list[str]:
    """The budget as text lines: a table per line, its total, and a warning when over."""
    out = [f"False-alarm budget (in control, known limits; points a day from {source}):"]
    header = f"  {'station/stream':44} {'chart':14} {'rules':8} {'points/d':>9} {'ARL0':>9} {'alarms/d':>9}  method"
    for line in lines:
        out.append(f"line {line.line}:")
        out.append(header)
        for r in line.rows:
            name = f"{r.station}/{r.stream}"
            out.append(
                f"  {name:44} {r.chart:14} {r.rules:8} {_number(r.points_per_day, 0):>9} "
                f"{_number(r.arl0, 0):>9} {_number(r.per_day, 3):>9}  {r.method}"
            )
        unknown = f" ({len(line.unknown)} not estimated)" if line.unknown else ""
        limit = "" if line.budget is None else f"; budget {line.budget:g}"
        out.append(f"  total: {line.total:.2f} false alarms a day{unknown}{limit}")
        if line.over:
            worst = sorted(line.rows, key=lambda r: -(r.per_day or 0.0))[:3]
            names = ", ".join(f"{r.station}/{r.stream} {r.chart} ({r.per_day:.2f})" for r in worst)
            out.append(
                f"warning: line {line.line} expects {line.total:.2f} false alarms a day, over its "
                f"budget of {line.budget:g} (alerting.false_alarm_budget_per_day); largest: "
                f"{names}. Use fewer rules, wider limits (k_sigma), larger subgroups or EWMA/CUSUM."
            )
    return out
