"""Poison pills: a record whose processing raises is a dead letter, its key's state is whole.

The bug is injected (a detector that raises after it has half-updated its state): no
real detector should raise, which is what the quarantine is a safety net for.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

from linewatch.connectors.memory import IterableSource, ListSink
from linewatch.pipeline import assembly as engine_module  # where streams are built
from linewatch.pipeline import runner as runner_module
from linewatch.pipeline.checkpoint import LocalStateStore
from linewatch.pipeline.config import parse_config
from linewatch.pipeline.engine import Engine
from linewatch.pipeline.job import JobError, build_job
from linewatch.pipeline.models import Measurement, RawRecord
from linewatch.pipeline.runner import QuarantineExceeded, Route, Runner

T0 = datetime(2026, 11, 23, 6, tzinfo=UTC)
POISON = 10.25  # a plausible value the injected bug chokes on
CONFIG = {
    "lines": [
        {
            "name": "L3",
            "stations": [
                {
                    "name": "weld-2",
                    "characteristics": [{"name": "d", "chart": "imr", "phase1": 20}],
                },
                {"name": "trim", "characteristics": [{"name": "g", "chart": "imr", "phase1": 20}]},
            ],
        }
    ]
}


class HalfUpdating:
    """Wraps a real detector; on the poison value it updates, then raises (a bug)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def update(self, ts: datetime, x: Any) -> Any:
        evaluation = self.inner.update(ts, x)
        if x == POISON:
            raise OverflowError("math range error")
        return evaluation

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
def buggy(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    real = engine_module.build_detector
    monkeypatch.setattr(engine_module, "build_detector", lambda spec: HalfUpdating(real(spec)))
    yield


def records(n: int, poison_at: tuple[int, ...] = ()) -> list[Measurement]:
    out = []
    for i in range(n):
        value = 10.0 + (0.5 if i % 2 else -0.5) + (6.0 if i >= n // 2 else 0.0)
        for station, name in (("weld-2", "d"), ("trim", "g")):
            out.append(
                Measurement(
                    ts=T0 + timedelta(seconds=30 * i),
                    line="L3",
                    station=station,
                    characteristic=name,
                    value=value,
                )
            )
        if i in poison_at:
            out.append(
                Measurement(
                    ts=T0 + timedelta(seconds=30 * i + 1),
                    line="L3",
                    station="weld-2",
                    characteristic="d",
                    value=POISON,
                )
            )
    return out


def run(items: list[Measurement], **kwargs: Any) -> tuple[Runner, ListSink, ListSink]:
    sink, dead = ListSink(), ListSink()
    runner = Runner(
        Engine(parse_config(CONFIG)),
        IterableSource(items, batch_size=50),
        [Route(sink, frozenset({"alerts", "points", "kpis"}))],
        dead,
        **kwargs,
    )
    runner.run()
    return runner, sink, dead


@pytest.mark.usefixtures("buggy")
@pytest.mark.parametrize("as_bytes", [False, True])
def test_a_poison_pill_is_a_dead_letter_and_leaves_its_key_whole(as_bytes: bool) -> None:
    # Poison in phase I (checkpoint 0 is the base), after a checkpoint, and twice in a row.
    items: list[Any] = records(200, poison_at=(5, 120, 121, 180))
    if as_bytes:  # the runner keeps raw bytes for a rebuild and decodes them again
        items = [msgspec.json.encode(item) for item in items]
    poisoned, sink, dead = run(items, checkpoint_every_records=100)
    clean, clean_sink, _ = run(records(200), checkpoint_every_records=100)
    assert [d.reason for d in dead.items] == [
        f"memory:{n}: internal error: OverflowError: math range error" for n in (13, 244, 247, 366)
    ]
    assert poisoned.summary.internal_errors == 4
    assert poisoned.summary.records_processed == 400
    # Every chart point and alert is the clean run's, and so is the state afterwards.
    assert sink.items == clean_sink.items and len(sink.items) > 400
    assert poisoned.engine.snapshot() == clean.engine.snapshot()
    report = poisoned.engine.stream_stats
    assert [s.observations for s in report] == [200, 200]


@pytest.mark.usefixtures("buggy")
def test_too_many_failures_stop_the_job_after_a_checkpoint(tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path / "state")
    items = records(100, poison_at=(10, 20, 30, 40))
    with pytest.raises(QuarantineExceeded) as stopped:
        run(items, state_store=store, max_failures=3, failure_window_records=1000)
    message = str(stopped.value)
    assert "\n" not in message
    assert message.startswith(
        "stopped: 4 records raised internal errors within 1000 records "
        "(quarantine.max_failures is 3); this is a bug, not bad data; the last, at memory:86: "
        "OverflowError: math range error"
    )
    # The checkpoint is past the batch of the fourth failure: a restart never meets it again.
    checkpoint = store.load()
    assert checkpoint is not None and checkpoint.source["records"] == 100
    # Spread out (one per window of 20 records) the same failures do not stop it.
    _, _, dead = run(items, max_failures=1, failure_window_records=20)
    assert len(dead.items) == 4


@pytest.mark.usefixtures("buggy")
def test_the_job_turns_the_stop_into_one_error_line(tmp_path: Path) -> None:
    config = parse_config({**CONFIG, "quarantine": {"max_failures": 1, "window_records": 50}})
    items = records(60, poison_at=(3, 4))
    job = build_job(
        config,
        mode="replay",
        out_dir=tmp_path,
        source=IterableSource(items, batch_size=1000),
    )
    with pytest.raises(JobError, match=r"^stopped: 2 records raised internal errors within 50 "):
        job.run()
    letters = (tmp_path / "dead-letters.jsonl").read_text().splitlines()
    assert len(letters) == 2  # flushed before the stop


def test_an_exception_in_decode_is_quarantined(monkeypatch: pytest.MonkeyPatch) -> None:
    real = runner_module.decode

    def decode(raw: RawRecord) -> Any:
        if raw.origin == "memory:3":
            raise RecursionError("maximum recursion depth exceeded")
        return real(raw)

    monkeypatch.setattr(runner_module, "decode", decode)
    items = [msgspec.json.encode(r) for r in records(10)]
    runner, _, dead = run(items)  # type: ignore[arg-type]
    assert [d.reason for d in dead.items] == [
        "memory:3: internal error: RecursionError: maximum recursion depth exceeded"
    ]
    assert runner.summary.records_processed == 19
