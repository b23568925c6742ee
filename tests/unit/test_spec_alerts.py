"""Specification and process-window alerts, per-stream severity and resolve rule, and the
limits version and phase-I window an alert names (issue 13, "Alerts that mean something")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from linewatch.pipeline.alerts import fingerprint_of
from linewatch.pipeline.config import Config, ConfigError, parse_config
from linewatch.pipeline.engine import Engine
from linewatch.pipeline.models import Alert, Measurement, Output, Parameter, alert_annotations

T0 = datetime(2026, 12, 1, 6, tzinfo=UTC)


def config(
    characteristics: list[dict[str, Any]] = (),  # type: ignore[assignment]
    parameters: list[dict[str, Any]] = (),  # type: ignore[assignment]
    **alerting: Any,
) -> Config:
    station = {
        "name": "s",
        "characteristics": list(characteristics),
        "parameters": list(parameters),
    }
    data: dict[str, Any] = {"lines": [{"name": "L", "stations": [station]}]}
    if alerting:
        data["alerting"] = alerting
    return parse_config(data)


def measurements(values: list[float], name: str = "d") -> list[Measurement]:
    return [
        Measurement(
            ts=T0 + timedelta(minutes=i), line="L", station="s", characteristic=name, value=v
        )
        for i, v in enumerate(values)
    ]


def alerts(engine: Engine, records: list[Any]) -> list[Alert]:
    outputs: list[Output] = []
    for record in records:
        outputs += engine.process(record)
    return [o for o in outputs if isinstance(o, Alert)]


def test_spec_alerts_by_hand_on_a_tiny_config() -> None:
    # usl 5.8, lsl 5.0, resolve after 2 in-spec values; phase I of 25 never ends here, so
    # the control chart says nothing and every alert below is the specification's.
    engine = Engine(
        config([{"name": "d", "lsl": 5.0, "usl": 5.8, "unit": "mm"}], resolve_after_points=2)
    )
    values = [5.4, 5.9, 6.1, 5.5, 5.3, 4.9, 5.2, 5.7, 5.6]
    got = alerts(engine, measurements(values))
    # 5.9 (index 1) fires; 6.1 is an occurrence; 5.5, 5.3 resolve it at index 4; 4.9
    # (index 5) fires again (same fingerprint, new alert id); 5.2, 5.7 resolve it (index 7)
    summary = [(a.status, a.ts, a.value, a.occurrences) for a in got]
    assert summary == [
        ("firing", T0 + timedelta(minutes=1), 5.9, 1),
        ("resolved", T0 + timedelta(minutes=4), 5.9, 2),
        ("firing", T0 + timedelta(minutes=5), 4.9, 1),
        ("resolved", T0 + timedelta(minutes=7), 4.9, 1),
    ]
    first = got[0]
    assert (first.chart, first.rule, first.severity) == ("spec", "spec", "critical")
    assert first.fingerprint == fingerprint_of(engine_identity("d"), "spec", "spec")
    assert (first.lcl, first.ucl, first.cl) == (5.0, 5.8, 5.4)  # cl: the middle, no target
    assert first.message == "d spec: 5.9 above the specification (usl 5.8 mm)"
    assert got[2].message == "d spec: 4.9 below the specification (lsl 5 mm)"
    assert first.limits_version is None and first.limits_from is None
    stats = engine.stream_stats[0]
    assert stats.signals["spec"] == 3 and stats.points == 0  # three values out; nothing plotted


def engine_identity(name: str) -> Any:
    from linewatch.pipeline.alerts import StreamIdentity

    return StreamIdentity("L", "s", name)


def test_each_value_of_a_subgroup_is_judged_against_the_spec() -> None:
    engine = Engine(config([{"name": "d", "chart": "xbar-r", "subgroup_size": 3, "usl": 10.0}]))
    # the subgroup mean (9.0) is inside; the part at 10.5 is not
    got = alerts(engine, measurements([8.0, 8.5, 10.5]))
    assert [(a.rule, a.value, a.ts) for a in got] == [("spec", 10.5, T0 + timedelta(minutes=2))]


def test_a_parameter_takes_lsl_usl_as_a_process_window() -> None:
    barrel = {"equipment": "press-1", "name": "barrel_c", "lsl": 220.0, "usl": 240.0, "unit": "°C"}
    engine = Engine(
        config(parameters=[barrel], resolve_after_points=1, severity={"spec": "warning"})
    )
    readings = [230.0, 219.5, 218.0, 225.0, 241.0]
    records = [
        Parameter(
            ts=T0 + timedelta(seconds=10 * i),
            line="L",
            station="s",
            equipment="press-1",
            name="barrel_c",
            value=v,
        )
        for i, v in enumerate(readings)
    ]
    got = alerts(engine, records)
    assert [(a.status, a.value, a.severity) for a in got] == [
        ("firing", 219.5, "warning"),  # alerting.severity.spec
        ("resolved", 219.5, "warning"),  # one value back inside resolves (resolve_after 1)
        ("firing", 241.0, "warning"),
    ]
    assert got[0].characteristic == "press-1/barrel_c"
    assert got[0].message == "press-1/barrel_c spec: 219.5 below the process window (lsl 220 °C)"
    assert got[1].ends_at == T0 + timedelta(seconds=30)


def test_a_process_window_is_validated_with_its_path() -> None:
    with pytest.raises(ConfigError) as caught:
        config(parameters=[{"equipment": "e", "name": "p", "lsl": 240.0, "usl": 220.0}])
    assert caught.value.problems == [
        "lines[0].stations[0].parameters[0]: Value error, lsl (240.0) must be below usl (220.0)"
    ]


def test_per_chart_severity_and_resolve_after_points_are_validated_with_paths() -> None:
    with pytest.raises(ConfigError) as caught:
        config(
            [
                {"name": "a", "severity": "urgent"},
                {"name": "b", "resolve_after_points": 0},
                {"name": "c", "spec_severity": "loud"},
            ]
        )
    problems = caught.value.problems
    assert len(problems) == 3
    assert problems[0].startswith(
        "lines[0].stations[0].characteristics[0].severity: Input should be 'critical', "
        "'warning' or 'info'"
    )
    assert problems[1].startswith(
        "lines[0].stations[0].characteristics[1].resolve_after_points: Input should be "
        "greater than or equal to 1"
    )
    assert problems[2].startswith("lines[0].stations[0].characteristics[2].spec_severity:")


def _control_alerts(settings: dict[str, Any], values: list[float], **alerting: Any) -> list[Alert]:
    characteristic = {"name": "d", "chart": "imr", "phase1": 5, **settings}
    return alerts(Engine(config([characteristic], **alerting)), measurements(values))


# phase I 10, 11, 10, 11, 10: mean 10.4, MR-bar 1, sigma 1/1.128, UCL 10.4 + 2.6596 = 13.06
PHASE1 = [10.0, 11.0, 10.0, 11.0, 10.0]


def test_per_chart_severity_overrides_the_alerting_section() -> None:
    values = [*PHASE1, 20.0]
    default = _control_alerts({}, values)
    assert [(a.rule, a.chart, a.severity) for a in default] == [
        ("nelson1", "individuals", "critical"),  # alerting.severity: nelson1 critical
        ("nelson1", "moving_range", "critical"),
    ]
    own = _control_alerts({"severity": "info"}, values)
    assert [(a.rule, a.severity) for a in own] == [("nelson1", "info"), ("nelson1", "info")]
    # spec alerts keep their own severity: spec_severity, not severity
    mixed = _control_alerts({"severity": "info", "usl": 15.0, "spec_severity": "warning"}, values)
    assert sorted((a.rule, a.severity) for a in mixed) == [
        ("nelson1", "info"),
        ("nelson1", "info"),
        ("spec", "warning"),
    ]


def test_per_chart_resolve_after_points_overrides_the_alerting_section() -> None:
    values = [*PHASE1, 20.0, 10.0, 10.5, 10.0, 10.5]
    # index 5 fires both charts; the MR chart signals again at index 6 (|10 - 20| = 10)
    globally = _control_alerts({}, values, resolve_after_points=3)
    resolved = [(a.chart, a.ts) for a in globally if a.status == "resolved"]
    assert resolved == [
        ("individuals", T0 + timedelta(minutes=8)),  # 6, 7, 8 clean
        ("moving_range", T0 + timedelta(minutes=9)),  # 7, 8, 9 clean
    ]
    own = _control_alerts({"resolve_after_points": 2}, values, resolve_after_points=3)
    resolved = [(a.chart, a.ts) for a in own if a.status == "resolved"]
    assert resolved == [
        ("individuals", T0 + timedelta(minutes=7)),  # 6, 7 clean
        ("moving_range", T0 + timedelta(minutes=8)),  # 7, 8 clean
    ]


def test_an_alert_names_the_phase_i_window_of_its_limits() -> None:
    got = _control_alerts({}, [*PHASE1, 20.0])
    first = got[0]
    assert first.limits_version == 1
    assert first.limits_from == T0  # the first phase-I value
    assert first.limits_to == T0 + timedelta(minutes=4)  # the value that completed it
    notes = alert_annotations(first)
    assert (notes["limits_version"], notes["limits_from"], notes["limits_to"]) == (
        "1",
        "2026-12-01T06:00:00+00:00",
        "2026-12-01T06:04:00+00:00",
    )
    # the wire format round-trips the new fields; an old alert without them still decodes
    wire = msgspec.json.encode(first)
    assert msgspec.json.decode(wire, type=Alert) == first
    old = msgspec.json.decode(wire.replace(b',"limits_version":1', b""), type=Alert)
    assert old.limits_version is None


def test_an_alert_in_phase_i_names_the_window_and_given_limits_have_none() -> None:
    # a signal among the phase-I points themselves: judged against the limits they made
    # 10, 11 four times, 25, 10: mean 11.9, MR-bar 37/9, sigma 3.645, UCL 22.83; the MR
    # chart's UCL 3.267 * 37/9 = 13.43 is passed by the MR 14 of the same point
    got = _control_alerts({"phase1": 10}, [10.0, 11.0] * 4 + [25.0, 10.0])
    at = T0 + timedelta(minutes=8)
    assert [(a.chart, a.ts) for a in got] == [("individuals", at), ("moving_range", at)]
    assert {(a.limits_from, a.limits_to) for a in got} == {(T0, T0 + timedelta(minutes=9))}
    given = _control_alerts({"limits": {"center": 10.0, "sigma": 0.5}}, [10.0, 12.0])
    assert [(a.limits_version, a.limits_from, a.limits_to) for a in given] == [(1, None, None)] * 2


def test_the_limits_window_survives_a_snapshot() -> None:
    engine = Engine(config([{"name": "d", "chart": "imr", "phase1": 5}]))
    alerts(engine, measurements(PHASE1))
    state = engine.snapshot()
    restored = Engine(config([{"name": "d", "chart": "imr", "phase1": 5}]))
    restored.restore(msgspec.json.decode(msgspec.json.encode(state)))
    later = [
        Measurement(
            ts=T0 + timedelta(minutes=10), line="L", station="s", characteristic="d", value=20.0
        )
    ]
    got = alerts(restored, later)
    assert {(a.limits_from, a.limits_to) for a in got} == {(T0, T0 + timedelta(minutes=4))}
