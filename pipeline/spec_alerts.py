"""Specification alerts: a value outside its stream's ``lsl``/``usl`` fires a ``spec`` alert.

For a characteristic, ``lsl``/``usl`` are the specification limits of the part; for an
equipment parameter they are the process window (a barrel temperature of 220-240 °C). They
are independent of the control limits: every value is judged against them, from the first
record on (phase I or not), each value of a subgroup on its own (a part is in or out of
spec, not a subgroup mean).

A value is judged as one point of chart ``spec`` with rule ``spec``, handed to the same
:class:`~linewatch.pipeline.alerts.AlertManager` as the control charts' signals, so the
fingerprint (line, station, stream, ``spec``, ``spec``), the lifecycle (fire on the first
value out, count further ones as occurrences, resolve after ``resolve_after_points``
values in a row back inside), grouping, inhibition, silences and the report treat it like
any other alert. The ``spec`` points are not chart points (nothing is plotted for them).

Severity: the stream's ``spec_severity``, else ``alerting.severity.spec``, else
``critical`` (a part out of specification is scrap or rework).

>>> from datetime import datetime, timezone
>>> from linewatch.pipeline.config import AlertingConfig, ParameterConfig
>>> manager = AlertManager(AlertingConfig(resolve_after_points=2))
>>> barrel = ParameterConfig(equipment="press-1", name="barrel_c", lsl=220.0, usl=240.0)
>>> who = StreamIdentity("L1", "mould", "press-1/barrel_c")
>>> t = datetime(2026, 12, 1, 8, tzinfo=timezone.utc)
>>> [(a.rule, a.severity, a.message) for a in spec_alerts(manager, who, barrel, t, 243.5)]
[('spec', 'critical', 'press-1/barrel_c spec: 243.5 above the process window (usl 240)')]
>>> spec_alerts(manager, who, barrel, t, 230.0), [a.status for a in spec_alerts(manager, who, barrel, t, 231.0)]
([], ['resolved'])
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from linewatch.detectors.base import PlotPoint, Signal
from linewatch.pipeline.alerts import AlertManager, StreamIdentity
from linewatch.pipeline.models import Alert

__all__ = ["SPEC_CHART", "SPEC_RULE", "spec_alerts", "spec_severity"]

SPEC_CHART = "spec"
SPEC_RULE = "spec"


def spec_severity(manager: AlertManager, spec: Any) -> Any:
    """The severity of ``spec``'s ``spec`` alert (see the module docstring)."""
    own = getattr(spec, "spec_severity", None)
    if own is not None:
        return own
    return manager.config.severity.get(SPEC_RULE, "critical")


def spec_alerts(
    manager: AlertManager,
    identity: StreamIdentity,
    spec: Any,
    ts: datetime,
    value: float,
    counts: Counter[str] | None = None,
) -> list[Alert]:
    """Alerts fired or resolved by one value of a stream whose config ``spec`` may give
    ``lsl``/``usl`` (none: nothing to judge, no alerts). A value out of them is counted
    under ``spec`` in ``counts`` (the report's signals of the stream)."""
    lsl: float | None = getattr(spec, "lsl", None)
    usl: float | None = getattr(spec, "usl", None)
    if lsl is None and usl is None:
        return []
    if usl is not None and value > usl:
        side = f"above the {_what(spec)} (usl {usl:g}{_unit(spec)})"
    elif lsl is not None and value < lsl:
        side = f"below the {_what(spec)} (lsl {lsl:g}{_unit(spec)})"
    else:
        side = ""
    center = _center(spec, lsl, usl)
    # The manager pairs signals with points by (chart, index) within one call: one point
    # per call, so its index needs no counting.
    rules = (SPEC_RULE,) if side else ()
    if side and counts is not None:
        counts[SPEC_RULE] += 1
    point = PlotPoint(
        ts, SPEC_CHART, 0, value, center, lsl, usl, 0, "beyond" if side else "", rules
    )
    signals = (
        [Signal(ts, SPEC_RULE, SPEC_CHART, 0, value, center, lsl, usl, f"{value:g} {side}")]
        if side
        else []
    )
    return manager.observe(
        identity,
        (point,),
        signals,
        spec_severity(manager, spec),
        resolve_after=getattr(spec, "resolve_after_points", None),
    )


def _what(spec: Any) -> str:
    # parameters have an ``equipment``: their lsl/usl are a process window
    return "process window" if hasattr(spec, "equipment") else "specification"


def _unit(spec: Any) -> str:
    unit = getattr(spec, "unit", "")
    return f" {unit}" if unit else ""


def _center(spec: Any, lsl: float | None, usl: float | None) -> float:
    target: float | None = getattr(spec, "target", None)
    if target is not None:
        return target
    if lsl is not None and usl is not None:
        return (lsl + usl) / 2.0
    return lsl if lsl is not None else float(usl)  # type: ignore[arg-type]
