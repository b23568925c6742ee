"""The runner loop: dead letters, checkpoint order, backpressure, resume."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from linewatch.connectors.files import FileSource, JsonlSink
from linewatch.connectors.memory import IterableSource, ListSink
from linewatch.pipeline.checkpoint import LocalStateStore
from linewatch.pipeline.config import parse_config
from linewatch.pipeline.engine import Engine
from linewatch.pipeline.models import Alert, ChartPoint, Measurement
from linewatch.pipeline.runner import Route, Runner

T0 = datetime(2026, 11, 23, 6, tzinfo=UTC)
CONFIG = parse_config(
    {
        "lines": [
            {
                "name": "L3",
                "stations": [
                    {
                        "name": "weld-2",
                        "characteristics": [{"name": "d", "chart": "imr", "phase1": 20}],
                    }
                ],
            }
        ]
    }
)


def measurement(i: int, value: float) -> Measurement:
    return Measurement(
        ts=T0 + timedelta(seconds=30 * i),
        line="L3",
        station="weld-2",
        characteristic="d",
        value=value,
    )


def values(n: int, shift_at: int | None = None) -> list[float]:
    # A deterministic in-control pattern (MR-bar 1.0) with an optional large shift.
    return [
        10.0 + (0.5 if i % 2 else -0.5) + (8.0 if shift_at is not None and i >= shift_at else 0.0)
        for i in range(n)
    ]


def runner_for(
    source: IterableSource | FileSource, **kwargs: object
) -> tuple[Runner, ListSink, ListSink]:
    sink, dead = ListSink(), ListSink()
    routes = [Route(sink, frozenset({"alerts", "points", "kpis"}))]
    return Runner(Engine(CONFIG), source, routes, dead, **kwargs), sink, dead  # type: ignore[arg-type]


def test_three_malformed_lines_among_ten_thousand(tmp_path: Path) -> None:
    encoder = msgspec.json.Encoder()
    lines = [encoder.encode(measurement(i, v)) for i, v in enumerate(values(10_000))]
    bad = {
        1234: b'{"kind":"measurement","ts":"2026-11-23T08:00:00Z"',
        5000: b"not json at all",
        9999: lines[9999].replace(b'"value":', b'"value":"x","v":'),
    }
    for number, payload in bad.items():
        lines.insert(number, payload)
    path = tmp_path / "line.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    dead_path = tmp_path / "dead.jsonl"
    sink = ListSink()
    runner = Runner(
        Engine(CONFIG), FileSource(path), [Route(sink, frozenset({"points"}))], JsonlSink(dead_path)
    )
    summary = runner.run()
    runner.close()
    assert summary.records_read == 10_003
    assert summary.records_processed == 10_000
    letters = [json.loads(line) for line in dead_path.read_text().splitlines()]
    assert [letter["origin"] for letter in letters] == [
        "line.jsonl:1235",
        "line.jsonl:5001",
        "line.jsonl:10000",
    ]
    assert letters[0]["reason"] == "line.jsonl:1235: Input data was truncated - near `$.ts`"
    assert letters[1]["reason"].startswith("line.jsonl:5001: JSON is malformed")
    assert letters[2]["reason"] == "line.jsonl:10000: Expected `float`, got `str` - at `$.value`"
    assert letters[1]["payload"] == "not json at all"
    # Every good record was plotted on the individuals chart, phase I included.
    points = [p for p in sink.items if isinstance(p, ChartPoint) and p.chart == "individuals"]
    assert len(points) == 10_000


def test_checkpoint_flushes_every_sink_before_commit() -> None:
    order: list[str] = []

    class Recording(ListSink):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

        def flush(self) -> None:
            order.append(f"flush {self.name}")
            super().flush()

    class CommitRecordingSource(IterableSource):
        def commit(self) -> None:
            order.append("commit")
            super().commit()

    source = CommitRecordingSource(
        [measurement(i, v) for i, v in enumerate(values(50))], batch_size=10
    )
    runner = Runner(
        Engine(CONFIG),
        source,
        [
            Route(Recording("a"), frozenset({"points"})),
            Route(Recording("b"), frozenset({"alerts"})),
        ],
        Recording("dlq"),
        checkpoint_every_records=20,
    )
    runner.run()
    assert order[:4] == ["flush a", "flush b", "flush dlq", "commit"]
    assert order.count("commit") == runner.summary.checkpoints == 3


def test_backpressure_holds_the_commit_until_the_sink_flushes() -> None:
    source = IterableSource([measurement(i, v) for i, v in enumerate(values(30))])
    sink = ListSink(refuse_flushes=3, retry_after=0.001)
    runner = Runner(Engine(CONFIG), source, [Route(sink, frozenset({"points"}))], ListSink())
    summary = runner.run()
    assert summary.backpressure_waits == 3
    assert source.commits == 1
    individuals = [p for p in sink.items if isinstance(p, ChartPoint) and p.chart == "individuals"]
    assert len(individuals) == 30  # nothing was dropped while the sink pushed back


def test_shift_fires_one_alert_and_resume_gives_the_same_alerts(tmp_path: Path) -> None:
    records = [measurement(i, v) for i, v in enumerate(values(200, shift_at=100))]
    straight, sink, _ = runner_for(IterableSource(records))
    straight.run()
    alerts = [a for a in sink.items if isinstance(a, Alert)]
    assert [(a.chart, a.rule, a.status, a.starts_at) for a in alerts] == [
        ("individuals", "nelson1", "firing", T0 + timedelta(seconds=30 * 100)),
        ("moving_range", "nelson1", "firing", T0 + timedelta(seconds=30 * 100)),
        # The moving range spikes once at the step, then calms down: 10 clean points.
        ("moving_range", "nelson1", "resolved", T0 + timedelta(seconds=30 * 100)),
    ]

    # The same stream in two runs, stopped after 120 records, resumed from the checkpoint.
    store = LocalStateStore(tmp_path / "state")
    first, first_sink, _ = runner_for(IterableSource(records[:120]), state_store=store)
    first.run()
    checkpoint = store.load()
    assert checkpoint is not None and checkpoint.source["records"] == 120
    second, second_sink, _ = runner_for(
        IterableSource(records, start_after=checkpoint.source["records"]), state_store=store
    )
    second.restore(checkpoint)
    second.run()
    resumed = [a for a in first_sink.items + second_sink.items if isinstance(a, Alert)]
    assert resumed == alerts


def test_late_record_is_a_dead_letter_and_the_loop_goes_on() -> None:
    records = [measurement(i, v) for i, v in enumerate(values(40))]
    late = measurement(0, 10.0)  # 20 minutes older than the newest: beyond 300 s
    source = IterableSource([*records, late, measurement(40, 10.5)])
    runner, _, dead = runner_for(source)
    summary = runner.run()
    assert summary.dead_letters == 1 and summary.records_processed == 41
    assert dead.items[0].reason.startswith("memory:41: late record: ts 2026-11-23T06:00:00+00:00")


@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "jsonl.gz", "parquet"])
def test_file_formats_replay_the_same(tmp_path: Path, fmt: str) -> None:
    from linewatch.connectors.files import write_records

    records = [measurement(i, v) for i, v in enumerate(values(120, shift_at=60))]
    path = tmp_path / f"line.{fmt}"
    assert write_records(records, path) == 120
    runner, sink, dead = runner_for(FileSource(path, batch_size=7))
    summary = runner.run()
    assert summary.records_processed == 120 and not dead.items
    reference, reference_sink, _ = runner_for(IterableSource(records))
    reference.run()
    assert sink.items == reference_sink.items


def test_alerts_follow_point_order_when_phase_one_completes_at_once() -> None:
    from linewatch.detectors.base import PlotPoint, Signal
    from linewatch.pipeline.alerts import AlertManager, StreamIdentity
    from linewatch.pipeline.config import AlertingConfig

    manager = AlertManager(AlertingConfig(resolve_after_points=3))
    identity = StreamIdentity("L", "s", "d")

    def point(i: int, rules: tuple[str, ...] = ()) -> PlotPoint:
        return PlotPoint(
            T0 + timedelta(minutes=i), "individuals", i, 1.0, 0.0, -1.0, 1.0, 1, "C", rules
        )

    # Phase I of 8 points judged at once; test 1 fires on point 2 only.
    points = [point(i, ("nelson1",) if i == 2 else ()) for i in range(8)]
    signal = Signal(
        T0 + timedelta(minutes=2), "nelson1", "individuals", 2, 1.0, 0.0, -1.0, 1.0, "beyond"
    )
    alerts = manager.observe(identity, points, [signal])
    # It fires at point 2 and resolves after points 3, 4, 5: not on points 0 and 1.
    assert [(a.status, a.ts) for a in alerts] == [
        ("firing", T0 + timedelta(minutes=2)),
        ("resolved", T0 + timedelta(minutes=5)),
    ]
