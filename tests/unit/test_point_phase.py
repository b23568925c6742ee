"""Chart points say whether they belong to the phase-I window that estimated their limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from linewatch.pipeline.config import parse_config
from linewatch.pipeline.engine import Engine
from linewatch.pipeline.models import ChartPoint, Measurement, Output

T0 = datetime(2026, 12, 1, 6, tzinfo=UTC)


def points(characteristic: dict[str, Any], values: list[float]) -> list[ChartPoint]:
    station = {"name": "s", "characteristics": [{"name": "d", **characteristic}]}
    engine = Engine(parse_config({"lines": [{"name": "L", "stations": [station]}]}))
    outputs: list[Output] = []
    for i, value in enumerate(values):
        at = T0 + timedelta(minutes=i)
        outputs += engine.process(
            Measurement(ts=at, line="L", station="s", characteristic="d", value=value)
        )
    return [o for o in outputs if isinstance(o, ChartPoint)]


def test_the_phase_one_window_is_phase_i_and_later_points_phase_ii() -> None:
    got = points({"chart": "imr", "phase1": 4}, [10.0, 11.0, 10.5, 10.2, 10.4, 10.6])
    # I-MR: 4 individuals and 3 moving ranges judged when the 4th value completes phase I,
    # then each later value gives one I and one MR point judged against those limits.
    assert [(p.ts.minute, p.chart, p.phase) for p in got] == [
        (0, "individuals", "I"),
        (1, "individuals", "I"),
        (1, "moving_range", "I"),
        (2, "individuals", "I"),
        (2, "moving_range", "I"),
        (3, "individuals", "I"),
        (3, "moving_range", "I"),
        (4, "individuals", "II"),
        (4, "moving_range", "II"),
        (5, "individuals", "II"),
        (5, "moving_range", "II"),
    ]
    assert [p.phase for p in got if p.ts > T0 + timedelta(minutes=3)] == ["II"] * 4
    assert {p.limits_version for p in got} == {1}


def test_given_limits_have_no_phase_i() -> None:
    got = points({"chart": "imr", "limits": {"center": 10.0, "sigma": 0.5}}, [10.0, 10.3])
    assert got and {p.phase for p in got} == {"II"}
