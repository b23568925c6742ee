"""The report's collector, its manager summary, and the capability-merge regression."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from linewatch.pipeline.config import parse_config
from linewatch.pipeline.engine import Engine
from linewatch.pipeline.models import Alert, ChartPoint, Inspection, Kpi, Measurement
from linewatch.pipeline.report import KpiCollector
from linewatch.pipeline.report_data import ChartCollector, PeriodCounts, SpecLimits, collector_for
from linewatch.pipeline.report_summary import episodes_that_matter, rates, station_windows

T0 = datetime(2026, 11, 2, 6, tzinfo=UTC)


def point(i: int, violations: list[str] | None = None, version: int = 1) -> ChartPoint:
    return ChartPoint(
        ts=T0 + timedelta(minutes=i),
        line="L",
        station="s",
        characteristic="x",
        chart="xbar",
        value=float(i),
        cl=0.0,
        ucl=3.0,
        lcl=-3.0,
        zone="C",
        limits_version=version,
        violations=violations or [],
    )


def test_capability_kpis_of_two_characteristics_of_one_station_stay_apart() -> None:
    # The bug: KpiCollector keyed on (line, station, kpi), so `L3/trim cp` merged the
    # cp values of flange_gap_mm and trim_length_mm into one row.
    config = parse_config(
        {
            "lines": [
                {
                    "name": "L3",
                    "stations": [
                        {
                            "name": "trim",
                            "characteristics": [
                                {"name": "a", "lsl": 0.0, "usl": 10.0, "capability": {"window": 4}},
                                {"name": "b", "lsl": 0.0, "usl": 20.0, "capability": {"window": 4}},
                            ],
                        }
                    ],
                }
            ]
        }
    )
    engine = Engine(config)
    kpis = KpiCollector()
    for i, value in enumerate([4.0, 5.0, 6.0, 5.5, 4.5, 5.0, 6.5, 5.0]):
        for name, offset in (("a", 0.0), ("b", 5.0)):
            record = Measurement(
                ts=T0 + timedelta(seconds=i),
                line="L3",
                station="trim",
                characteristic=name,
                value=value + offset,
            )
            for output in engine.process(record):
                kpis.add(output)
    cp_rows = {key: entry["count"] for key, entry in kpis.series.items() if key[2].endswith(" cp")}
    assert cp_rows == {("L3", "trim", "a cp"): 2.0, ("L3", "trim", "b cp"): 2.0}
    # spec width 10 vs 20 with the same spread: b's Cp is exactly twice a's.
    first_a = kpis.series[("L3", "trim", "a cp")]["first"]
    first_b = kpis.series[("L3", "trim", "b cp")]["first"]
    assert first_b == 2 * first_a


def test_points_are_thinned_beyond_the_bound_but_violations_and_version_starts_stay() -> None:
    collector = ChartCollector(max_points=10)
    for i in range(1, 41):
        violations = ["nelson1"] if i in (7, 8, 33) else None
        collector.add(point(i, violations, version=1 if i < 30 else 2))
    series = collector.series[("L", "s", "x", "xbar")]
    assert series.total == 40 and series.violating == 3
    kept = [r.number for r in series.rows]
    # Stride 8 after two halvings: 1, 9, 17, 25, 33 by stride; 7, 8, 33 violate; 30
    # is the first point of limits version 2.
    assert series.stride == 8
    assert kept == [1, 7, 8, 9, 17, 25, 30, 33]
    assert len(series.rows) <= 10


def test_phase_one_is_the_first_phase1_points_of_each_limits_version() -> None:
    collector = ChartCollector(phase1={("L", "s", "x"): 2})
    for i in range(1, 6):
        collector.add(point(i, version=1 if i < 4 else 2))
    phases = [(r.number, r.phase) for r in collector.series[("L", "s", "x", "xbar")].rows]
    assert phases == [(1, "I"), (2, "I"), (3, "II"), (4, "I"), (5, "I")]


def test_values_group_by_subgroup_id_and_keep_the_latest_bounded() -> None:
    collector = ChartCollector(specs={("L", "s", "x"): SpecLimits(0.0, 1.0, None, 2)}, max_values=4)
    for i, (group, value) in enumerate(
        [("g1", 0.1), ("g1", 0.2), ("g2", 0.3), ("g3", 0.4), ("g3", 0.5), ("g4", 0.6)]
    ):
        collector.add(
            Measurement(
                ts=T0 + timedelta(seconds=i),
                line="L",
                station="s",
                characteristic="x",
                value=value,
                subgroup=group,
            )
        )
    series = collector.values[("L", "s", "x")]
    assert [list(g) for g in series.groups] == [[0.3], [0.4, 0.5], [0.6]]
    assert (series.values, series.seen) == (4, 6)


def inspection(
    minutes: int, result: str = "pass", defects: int = 0, rework: bool = False
) -> Inspection:
    return Inspection(
        ts=T0 + timedelta(minutes=minutes),
        line="L",
        station="final",
        part_id=f"P{minutes}",
        result=result,  # type: ignore[arg-type]
        defects=defects,
        defect_codes=["porosity"] * defects,
        rework=rework,
    )


def test_rates_over_the_whole_replay_and_the_last_day_against_the_day_before() -> None:
    collector = ChartCollector()
    day = 24 * 60
    # Day 1: 4 parts, 1 fail with 2 defects. Day 2: 5 parts, 1 reworked pass.
    for m, r, d, w in [
        (0, "pass", 0, False),
        (60, "fail", 2, False),
        (120, "pass", 0, False),
        (180, "pass", 0, False),
    ]:
        collector.add(inspection(m, r, d, w))
    for m, r, d, w in [
        (day + 10, "pass", 0, True),
        (day + 70, "pass", 0, False),
        (day + 80, "pass", 0, False),
        (day + 90, "pass", 0, False),
        (2 * day - 30, "pass", 0, False),
    ]:
        collector.add(inspection(m, r, d, w))
    whole, last = station_windows(collector)
    assert whole.by_station["L/final"] == rates(PeriodCounts(9, 7, 1, 2, 1))
    assert whole.by_station["L/final"].fpy == 7 / 9
    assert last.by_station["L/final"] == rates(PeriodCounts(5, 4, 0, 0, 1))
    assert last.previous is not None and last.previous["L/final"] == rates(
        PeriodCounts(4, 3, 1, 2, 0)
    )
    assert last.start == T0 + timedelta(days=1)


def test_no_comparison_when_the_data_covers_less_than_two_days() -> None:
    collector = ChartCollector()
    collector.add(inspection(0))
    collector.add(inspection(600))
    assert [w.label for w in station_windows(collector)] == ["whole replay"]


def alert(minutes: float, stream: str, severity: str = "warning") -> Alert:
    ts = T0 + timedelta(minutes=minutes)
    return Alert(
        alert_id=f"{stream}{minutes}",
        fingerprint=stream,
        status="firing",
        ts=ts,
        starts_at=ts,
        ends_at=None,
        line="L",
        station="s",
        characteristic=stream,
        chart="xbar",
        rule="nelson1",
        severity=severity,  # type: ignore[arg-type]
        value=0.0,
        cl=None,
        ucl=None,
        lcl=None,
        message="",
    )


def test_the_episodes_that_matter_are_the_multi_stream_and_critical_ones() -> None:
    alerts = [
        alert(0, "a"),  # episode 1: one warning, one stream
        alert(200, "b", "critical"),  # episode 2: critical, then a second stream
        alert(230, "c"),
        alert(500, "d", "critical"),  # episode 3: one critical
    ]
    shown, total = episodes_that_matter(alerts, limit=2)
    assert total == 3
    assert [e.number for e in shown] == [2, 3]
    assert shown[0].streams == ("s/b (xbar nelson1)", "s/c (xbar nelson1)")


def test_collector_for_reads_phase1_and_specs_from_the_config() -> None:
    config = parse_config(
        {
            "lines": [
                {
                    "name": "L",
                    "stations": [
                        {
                            "name": "s",
                            "characteristics": [
                                {
                                    "name": "d",
                                    "chart": "xbar-r",
                                    "subgroup_size": 5,
                                    "phase1": 30,
                                    "lsl": 1.0,
                                    "usl": 2.0,
                                },
                                {"name": "p", "chart": "p", "phase1": 25},
                            ],
                            "parameters": [{"equipment": "e", "name": "t", "phase1": 40}],
                        }
                    ],
                }
            ]
        }
    )
    collector = collector_for(config)
    assert collector.phase1 == {("L", "s", "d"): 30, ("L", "s", "p"): 25, ("L", "s", "e/t"): 40}
    assert collector.specs == {("L", "s", "d"): SpecLimits(1.0, 2.0, None, 5)}


def test_kpis_are_kept_per_series() -> None:
    collector = ChartCollector()
    collector.add(
        Kpi(
            ts=T0,
            line="L",
            station="s",
            kpi="cpk",
            value=1.4,
            window_s=0.0,
            characteristic="d",
            lower=1.1,
            upper=1.7,
        )
    )
    row = collector.kpis[("L", "s", "d", "cpk")].rows[0]
    assert (row.value, row.lcl, row.ucl) == (1.4, 1.1, 1.7)
