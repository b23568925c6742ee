"""The engine wires records to every chart type exactly as the batch analysis computes it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from linewatch.detectors.spc import analyze
from linewatch.pipeline.config import Config, parse_config
from linewatch.pipeline.engine import Engine, RecordRejected
from linewatch.pipeline.models import Attribute, ChartPoint, Kpi, Measurement, Output, Parameter

DATA = json.loads((Path(__file__).parent / "spc" / "published_data.json").read_text())
T0 = datetime(2026, 11, 23, 6, tzinfo=UTC)


def config(characteristic: dict[str, Any], **station: Any) -> Config:
    return parse_config(
        {
            "lines": [
                {
                    "name": "L",
                    "stations": [{"name": "s", "characteristics": [characteristic], **station}],
                }
            ]
        }
    )


def run(engine: Engine, records: list[Any]) -> list[Output]:
    outputs: list[Output] = []
    for record in records:
        outputs += engine.process(record)
    return outputs


def series(
    outputs: list[Output], chart: str
) -> list[tuple[float, float | None, float | None, float | None]]:
    return [
        (o.value, o.cl, o.lcl, o.ucl)
        for o in outputs
        if isinstance(o, ChartPoint) and o.chart == chart
    ]


def test_subgroups_by_id_give_montgomerys_piston_ring_xbar_r_chart() -> None:
    rings = DATA["pistonrings"][:25]
    engine = Engine(config({"name": "d", "chart": "xbar-r", "subgroup_size": 5, "phase1": 25}))
    records = [
        Measurement(
            ts=T0 + timedelta(minutes=i),
            line="L",
            station="s",
            characteristic="d",
            value=v,
            subgroup=f"SG-{i}",
        )
        for i, subgroup in enumerate(rings)
        for v in subgroup
    ]
    outputs = run(engine, records)
    expected = analyze("xbar-r", rings, phase1=25)
    xbar = series(outputs, "xbar")
    assert [p[0] for p in xbar] == expected.charts["xbar"].value
    assert {round(p[1], 3) for p in xbar} == {74.001}  # Montgomery: x-double-bar 74.001
    assert {(round(p[2], 3), round(p[3], 3)) for p in xbar} == {(73.988, 74.014)}
    assert [p[0] for p in series(outputs, "range")] == expected.charts["range"].value


def test_a_short_subgroup_is_closed_by_the_next_subgroup_id() -> None:
    engine = Engine(config({"name": "d", "chart": "xbar-s", "subgroup_size": 3, "phase1": 2}))
    values = [(1, 10.0), (1, 11.0), (2, 10.0), (2, 12.0), (2, 11.0), (3, 9.0)]
    outputs = run(
        engine,
        [
            Measurement(ts=T0, line="L", station="s", characteristic="d", value=v, subgroup=str(g))
            for g, v in values
        ],
    )
    # Subgroup 1 closes short (2 values) when subgroup 2 starts; 2 closes at size 3.
    assert [p[0] for p in series(outputs, "xbar")] == [10.5, 11.0]


def test_attribute_records_feed_montgomerys_orange_juice_p_chart() -> None:
    juice = [(count, DATA["orangejuice_n"]) for count in DATA["orangejuice_D"][:30]]
    engine = Engine(config({"name": "defective", "chart": "p", "phase1": 30}))
    records = [
        Attribute(
            ts=T0 + timedelta(minutes=i),
            line="L",
            station="s",
            characteristic="defective",
            inspected=row[1],
            nonconforming=row[0],
        )
        for i, row in enumerate(juice)
    ]
    p_points = series(run(engine, records), "p")
    assert round(p_points[0][1], 4) == 0.2313
    assert (round(p_points[0][2], 4), round(p_points[0][3], 4)) == (0.0524, 0.4102)
    beyond = [i for i, p in enumerate(p_points) if p[0] > p[3]]
    assert beyond == [14, 22]  # samples 15 and 23, as printed


def test_a_record_of_the_wrong_kind_for_the_chart_is_rejected() -> None:
    engine = Engine(config({"name": "defective", "chart": "p"}))
    with pytest.raises(RecordRejected, match="charted as 'p', which takes attribute records"):
        engine.process(
            Measurement(ts=T0, line="L", station="s", characteristic="defective", value=1.0)
        )
    engine = Engine(config({"name": "d", "chart": "zmr"}))
    with pytest.raises(RecordRejected, match="needs the `product`"):
        engine.process(Measurement(ts=T0, line="L", station="s", characteristic="d", value=1.0))


def test_capability_is_emitted_as_kpis_per_window() -> None:
    engine = Engine(
        config({"name": "d", "chart": "imr", "lsl": 4.0, "usl": 16.0, "capability": {"window": 5}})
    )
    values = [10.0, 12.0, 11.0, 9.0, 13.0]
    outputs = run(
        engine,
        [
            Measurement(
                ts=T0 + timedelta(seconds=i), line="L", station="s", characteristic="d", value=v
            )
            for i, v in enumerate(values)
        ],
    )
    kpis = {k.kpi: k for k in outputs if isinstance(k, Kpi)}
    assert sorted(kpis) == ["cp", "cpk", "pp", "ppk"]
    # Overall sd of the five values is sqrt(2.5); Pp = (16 - 4) / (6 * sd).
    assert kpis["pp"].value == pytest.approx(12 / (6 * 2.5**0.5), rel=1e-12)
    assert kpis["ppk"].value == pytest.approx(min(16 - 11, 11 - 4) / (3 * 2.5**0.5), rel=1e-12)
    assert kpis["cpk"].characteristic == "d" and kpis["cpk"].window_n == 5
    assert kpis["cpk"].lower is not None and kpis["cpk"].lower < kpis["cpk"].value


def test_multivariate_group_charts_t2_once_every_parameter_of_a_part_arrived() -> None:
    cfg = parse_config(
        {
            "lines": [
                {
                    "name": "L",
                    "stations": [
                        {
                            "name": "s",
                            "multivariate": [
                                {
                                    "name": "welder",
                                    "parameters": ["w/temp", "w/current"],
                                    "phase1": 10,
                                }
                            ],
                        }
                    ],
                }
            ]
        }
    )
    engine = Engine(cfg)
    records = []
    for part in range(12):
        ts = T0 + timedelta(seconds=30 * part)
        temp, current = 400 + (part * 7 % 5), 9.5 + (part * 3 % 4) / 10
        records.append(
            Parameter(
                ts=ts,
                line="L",
                station="s",
                equipment="w",
                name="temp",
                value=temp,
                part_id=f"P{part}",
            )
        )
        records.append(
            Parameter(
                ts=ts,
                line="L",
                station="s",
                equipment="w",
                name="current",
                value=current,
                part_id=f"P{part}",
            )
        )
    outputs = run(engine, records[:21])
    assert len(series(outputs, "t2")) == 10  # phase I of 10 parts, judged when it completes
    half = engine.snapshot()  # part 10's temperature is pending in it
    rest = run(engine, records[21:])
    twin = Engine(cfg)
    twin.restore(half)
    assert run(twin, records[21:]) == rest
    assert len(series(rest, "t2")) == 2
    expected = analyze(
        "t2",
        [
            {"w/temp": r1.value, "w/current": r2.value}
            for r1, r2 in zip(records[::2], records[1::2], strict=True)
        ],
        phase1=10,
        names=["w/temp", "w/current"],
    )
    assert [p[0] for p in series(outputs + rest, "t2")] == pytest.approx(
        expected.charts["t2"].value, rel=1e-12
    )


def test_given_limits_apply_from_their_effective_time() -> None:
    start = (T0 + timedelta(minutes=10)).isoformat()
    engine = Engine(
        config(
            {
                "name": "d",
                "chart": "imr",
                "limits": {"center": 10.0, "sigma": 1.0, "effective_from": start},
            }
        )
    )
    records = [
        Measurement(
            ts=T0 + timedelta(minutes=m),
            line="L",
            station="s",
            characteristic="d",
            value=10.0 + m % 2,
        )
        for m in range(20)
    ]
    outputs = run(engine, records)
    points = series(outputs, "individuals")
    assert len(points) == 10 and {p[1:] for p in points} == {(10.0, 7.0, 13.0)}
    assert engine.before_limits == {"L/s/d": 10}


def test_a_short_subgroup_the_chart_refuses_is_counted_and_the_stream_goes_on() -> None:
    engine = Engine(config({"name": "d", "chart": "xbar-r", "subgroup_size": 3, "phase1": 2}))
    values = [
        ("A", 5.0),
        ("B", 10.0),
        ("B", 11.0),
        ("B", 12.0),
        ("C", 10.0),
        ("C", 12.0),
        ("C", 11.0),
    ]
    outputs = run(
        engine,
        [
            Measurement(
                ts=T0 + timedelta(minutes=i),
                line="L",
                station="s",
                characteristic="d",
                value=v,
                subgroup=g,
            )
            for i, (g, v) in enumerate(values)
        ],
    )
    # Subgroup A (one value) has no range: refused and counted; B and C are charted.
    assert engine.refused == {"L/s/d": 1}
    assert "d:" in engine.refused_reasons["L/s/d"]
    assert [p[0] for p in series(outputs, "xbar")] == [11.0, 11.0]
    stamps = [o.ts for o in outputs if isinstance(o, ChartPoint) and o.chart == "xbar"]
    assert stamps == [T0 + timedelta(minutes=3), T0 + timedelta(minutes=6)]
