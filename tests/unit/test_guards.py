"""The value guard and the event clock: one bad value or one bad clock cannot poison a stream."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from linewatch.connectors.memory import IterableSource, ListSink
from linewatch.pipeline.cli import main
from linewatch.pipeline.config import Config, ConfigError, parse_config
from linewatch.pipeline.engine import Engine, RecordRejected
from linewatch.pipeline.guards import EventClock, ValueGuard
from linewatch.pipeline.models import ChartPoint, DeadLetter, Measurement
from linewatch.pipeline.runner import Route, Runner

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 23, 6, tzinfo=UTC)


def config(**characteristic: Any) -> Config:
    return parse_config(
        {
            "lines": [
                {
                    "name": "L3",
                    "stations": [
                        {
                            "name": "weld-2",
                            "characteristics": [
                                {"name": "d", "chart": "imr", "phase1": 20, **characteristic}
                            ],
                        }
                    ],
                }
            ]
        }
    )


def measurement(i: int, value: float, seconds: float = 30.0) -> Measurement:
    return Measurement(
        ts=T0 + timedelta(seconds=seconds * i),
        line="L3",
        station="weld-2",
        characteristic="d",
        value=value,
    )


def alternating(n: int) -> list[float]:
    return [10.0 + (0.5 if i % 2 else -0.5) for i in range(n)]


def test_plausible_range_refuses_before_the_chart_sees_the_value() -> None:
    engine = Engine(config(plausible={"min": 0.0, "max": 20.0}))
    with pytest.raises(RecordRejected) as refused:
        engine.process(measurement(0, 1e200))
    assert str(refused.value) == (
        "implausible value: `value` 1e+200 of L3/weld-2/d is outside the plausible range [0, 20]"
    )
    # The refused value entered nothing: the chart's phase I holds only accepted values.
    outputs = []
    for i, value in enumerate(alternating(20), start=1):
        outputs += engine.process(measurement(i, value))
    assert engine.stream_stats[0].observations == 20
    individuals = [o for o in outputs if isinstance(o, ChartPoint) and o.chart == "individuals"]
    assert [o.value for o in individuals] == alternating(20)
    assert {o.cl for o in individuals} == {10.0}


def test_sigma_bound_of_the_established_process() -> None:
    engine = Engine(config())
    for i, value in enumerate(alternating(30)):
        engine.process(measurement(i, value))
    # Median 10 (the mean of 9.5 and 10.5), MAD 0.5: sigma 0.5 x 1.4826 = 0.7413.
    guard = engine._streams[("L3", "weld-2", "d")].guard
    assert guard is not None and guard.center == 10.0
    assert guard.sigma == pytest.approx(0.741301109)
    bound = 50 * 0.741301109252801
    engine.process(measurement(30, 10.0 + bound - 0.01))  # inside: a huge but legal signal
    with pytest.raises(RecordRejected, match=r"is 5.4e\+03 sigma from the established center 10 "):
        engine.process(measurement(31, 4010.0))


def test_sigma_guard_can_be_switched_off_and_is_checked_in_config() -> None:
    engine = Engine(config(implausible_sigma=None))
    for i, value in enumerate(alternating(30)):
        engine.process(measurement(i, value))
    assert engine._streams[("L3", "weld-2", "d")].guard is None
    engine.process(measurement(30, 1e6))  # charted: no guard configured
    with pytest.raises(ConfigError, match="implausible_sigma: Input should be greater"):
        config(implausible_sigma=3)
    with pytest.raises(ConfigError, match=r"plausible min \(2.0\) must be below max"):
        config(plausible={"min": 2, "max": 1})


def test_a_guard_with_equal_first_values_has_no_sigma_bound() -> None:
    guard = ValueGuard(None, 50.0)
    for _ in range(30):
        guard.commit(3.0)
    assert guard.sigma is None and guard.check(1e9) is None


def test_event_clock_state_round_trip() -> None:
    clock = EventClock()
    for ts in (5.0, 1.0, 3.0, 9.0):
        clock.commit(ts)
    clock.future_run.append(1e9)
    again = EventClock.from_state(json.loads(json.dumps(clock.state())))
    assert (list(again.recent), again.reference, again.future_run) == ([5, 1, 3, 9], 5.0, [1e9])


def test_one_future_record_moves_no_watermark() -> None:
    records = [measurement(i, v) for i, v in enumerate(alternating(60))]
    typo = Measurement(
        ts=records[30].ts.replace(year=2126),
        line="L3",
        station="weld-2",
        characteristic="d",
        value=10.0,
    )
    source = IterableSource([*records[:30], typo, *records[30:]])
    sink, dead = ListSink(), ListSink()
    summary = Runner(Engine(config()), source, [Route(sink, frozenset({"points"}))], dead).run()
    assert summary.dead_letters == 1 and summary.records_processed == 60
    (letter,) = dead.items
    assert isinstance(letter, DeadLetter)
    assert letter.reason.startswith(
        "memory:31: future timestamp: ts 2126-11-23T06:15:00+00:00 is 3.15567e+09 s ahead of "
        "the recent median of L3/weld-2 (2026-11-23T06:12:30+00:00); allowed future is 86400 s"
    )


def test_a_restart_after_a_long_stop_reanchors_after_five_records() -> None:
    engine = Engine(config())
    for i, value in enumerate(alternating(10)):
        engine.process(measurement(i, value))
    later = [measurement(i, 10.5, seconds=30.0) for i in range(10_000, 10_006)]  # 3.5 days on
    for record in later[:4]:
        with pytest.raises(RecordRejected, match="future timestamp"):
            engine.process(record)
    engine.process(later[4])  # the fifth in a row that agrees: accepted, the clock moves
    engine.process(later[5])
    assert engine._clocks["L3/weld-2"].reference == later[3].ts.timestamp()


def test_a_refused_record_does_not_move_the_watermark() -> None:
    engine = Engine(config(plausible={"min": 0.0, "max": 20.0}))
    for i, value in enumerate(alternating(20)):
        engine.process(measurement(i, value))
    # An hour ahead (within allowed_future_s) but implausible: refused, the clock stays.
    with pytest.raises(RecordRejected, match="implausible value"):
        engine.process(measurement(140, 99.0))
    engine.process(measurement(20, 10.0))  # not late: the refused record moved nothing


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[bytes]]:
    folder = tmp_path_factory.mktemp("demo")
    lines = gzip.decompress((ROOT / "examples" / "welding-line.jsonl.gz").read_bytes()).splitlines()
    return folder, lines


def replay(folder: Path, name: str, lines: list[bytes]) -> tuple[list[tuple[str, str]], list[Any]]:
    path = folder / f"{name}.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    out = folder / name
    code = main(
        [
            "replay",
            "--config",
            str(ROOT / "examples" / "welding-line.yaml"),
            "--input",
            str(path),
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0
    alerts = [json.loads(a) for a in (out / "alerts.jsonl").read_text().splitlines()]
    letters = [json.loads(d) for d in (out / "dead-letters.jsonl").read_text().splitlines()]
    return sorted((a["alert_id"], a["status"]) for a in alerts), letters


def test_a_year_typo_costs_one_dead_letter_not_a_station(demo: tuple[Path, list[bytes]]) -> None:
    folder, lines = demo
    clean, none = replay(folder, "clean", lines)
    # 12 SPC alerts and 5 of the demo's station models (model:equipment, forecast:defect_p)
    # since the demo config keeps within its false-alarm budget (README)
    assert none == [] and sum(1 for _, status in clean if status == "firing") == 23
    # Line 40004: a weld-2 measurement in phase II; line 100, one in phase I.
    for number in (40004, 100):
        assert b'"kind":"measurement"' in lines[number - 1]
        edited = list(lines)
        edited[number - 1] = lines[number - 1].replace(b'"ts":"2026', b'"ts":"2126')
        alerts, letters = replay(folder, f"typo{number}", edited)
        assert [(d["origin"], d["reason"].split(": ")[1]) for d in letters] == [
            (f"typo{number}.jsonl:{number}", "future timestamp")
        ]
        # Exactly the alerts of the accepted records alone (before the fix: 34,508 dead
        # letters and 47 alerts instead of 97 for line 100).
        without, _ = replay(folder, f"without{number}", lines[: number - 1] + lines[number:])
        assert alerts == without
        if number == 40004:
            assert alerts == clean


def test_a_late_record_does_not_break_a_run_of_future_records() -> None:
    """Refused records change no clock state: a late one amid a restart's run is ignored."""
    engine = Engine(config())
    for i, value in enumerate(alternating(10)):
        engine.process(measurement(i, value))
    later = [measurement(i, 10.5) for i in range(10_000, 10_005)]  # 3.5 days on
    for record in later[:4]:
        with pytest.raises(RecordRejected, match="future timestamp"):
            engine.process(record)
    with pytest.raises(RecordRejected, match="late record"):
        engine.process(measurement(-10_000, 10.0))  # 3.5 days before the reference
    engine.process(later[4])  # still the fifth of the run: it re-anchors the clock
    assert engine._clocks["L3/weld-2"].reference == later[2].ts.timestamp()


def test_a_huge_value_never_joins_a_subgroup() -> None:
    """1e200 among the first values (no sigma bound yet) is refused itself, not its subgroup.

    Before the fix it joined the pending subgroup and the good record that closed the
    subgroup was the one dead-lettered ("implausible value" of the subgroup).
    """
    engine = Engine(config(chart="xbar-r", subgroup_size=5))
    for i in range(3):
        engine.process(measurement(i, 10.0 + 0.1 * i))
    with pytest.raises(
        RecordRejected, match=r"^d: implausible value: value 1e\+200 is beyond ±1e\+100$"
    ):
        engine.process(measurement(3, 1e200))
    engine.process(measurement(4, 10.4))
    engine.process(measurement(5, 10.2))  # closes the subgroup of five good values
    assert engine.stream_stats[0].observations == 1
