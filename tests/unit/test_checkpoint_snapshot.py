"""A checkpoint's snapshot is cheap (parts encoded once, streams grouped in one pass, the
changelog reusing the state just saved) and still exactly the full state.

Each test compares what the checkpoint path gives with the state encoded from scratch:
exact equality of the dicts and of their JSON bytes, and the same future outputs after a
restore.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec

from linewatch.connectors import simulator as sim
from linewatch.connectors.kafka.tracker import KafkaStateTracker
from linewatch.connectors.memory import ListSink
from linewatch.detectors.spc import IMRChart, RuleSet
from linewatch.pipeline.checkpoint import LocalStateStore
from linewatch.pipeline.config import Config, parse_config
from linewatch.pipeline.decode import decode
from linewatch.pipeline.engine import Engine, RecordRejected
from linewatch.pipeline.models import DeadLetter, Output, RawRecord, WireRecord
from linewatch.pipeline.runner import Route, Runner
from tests.unit.test_kafka_tracker import PartitionSource, payloads
from tests.unit.test_runner import CONFIG

START = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
LINES = ("L1", "L2")


def _line(name: str) -> sim.LineSim:
    return dataclasses.replace(sim.welding_line(), line=name)


def config() -> Config:
    """Two welding lines charted with I-MR and the Nelson tests; KPI windows of 10 minutes,
    so parts leave them between two snapshots."""
    return parse_config(
        {
            "lines": [
                {
                    "name": name,
                    "stations": [
                        {
                            "name": station.name,
                            "kpi_window_s": 600,
                            "characteristics": [
                                {"name": c.name, "chart": "imr", "rules": "nelson"}
                                for c in station.characteristics
                            ],
                            "parameters": [
                                {"equipment": p.equipment, "name": p.name, "chart": "imr"}
                                for p in station.parameters
                            ],
                        }
                        for station in _line(name).stations
                    ],
                }
                for name in LINES
            ]
        }
    )


def records(name: str, seed: int) -> list[WireRecord]:
    return list(sim.simulate(_line(name), START, 240, sim.welding_faults(), seed=seed))


def feed(engine: Engine, chunk: Iterable[WireRecord]) -> list[Output]:
    outputs: list[Output] = []
    for record in chunk:
        with contextlib.suppress(RecordRejected):
            outputs += engine.process(record)
    return outputs


def from_scratch(engine: Engine) -> dict[str, Any]:
    """The snapshot with no part encoded before (the window caches put back after)."""
    windows = list(engine._kpi_windows.values())
    kept = [w.encoded for w in windows]
    for window in windows:
        window.encoded = ([], [])
    try:
        return engine.snapshot()
    finally:
        for window, encoded in zip(windows, kept, strict=True):
            window.encoded = encoded


def test_snapshots_along_a_mixed_stream_equal_the_state_encoded_from_scratch() -> None:
    one, two = records("L1", 101), records("L2", 102)
    engine = Engine(config())
    # Both lines, then L1 alone (L2 idle: its parts stay), then both again, then L2 alone.
    chunks = [
        one[:600] + two[:600],
        one[600:1200],
        one[1200:1500] + two[600:1400],
        two[1400:1700],
    ]
    for chunk in chunks:
        feed(engine, sorted(chunk, key=lambda r: r.ts))
        taken = engine.snapshot()
        full = from_scratch(engine)
        assert taken == full
        assert msgspec.json.encode(taken) == msgspec.json.encode(full)
        assert taken == {"keys": {key: engine.snapshot_key(key) for key in engine.keys()}}  # noqa: SIM118
    rows = {k: len(s["kpi_window"]["parts"]) for k, s in taken["keys"].items() if s["kpi_window"]}
    assert rows == {"L1/final": 20, "L2/final": 21}  # 10 minutes of 30 s parts (jittered)
    assert sum(len(s["alerts"]) for s in taken["keys"].values()) > 0

    # Restored from the file's bytes, it goes on as the original does.
    restored = Engine(config())
    restored.restore(msgspec.json.decode(msgspec.json.encode(taken)))
    rest = sorted(one[1500:2000] + two[1700:2200], key=lambda r: r.ts)
    assert feed(restored, rest) == feed(engine, rest)
    assert restored.snapshot() == engine.snapshot()


def test_a_part_added_or_replaced_since_the_last_snapshot_is_encoded_again() -> None:
    engine = Engine(config())
    one = records("L1", 101)
    inspections = [r for r in one if r.station == "final"]
    feed(engine, one[:400])
    before = engine.snapshot()["keys"]["L1/final"]["kpi_window"]["parts"]
    feed(engine, [inspections[60]])  # the window has seen ~50 parts: this one is new
    after = engine.snapshot()["keys"]["L1/final"]["kpi_window"]["parts"]
    assert after[-1][0] == inspections[60].ts.isoformat()
    assert after[:-1] == before[len(before) - len(after) + 1 :]
    assert after == from_scratch(engine)["keys"]["L1/final"]["kpi_window"]["parts"]

    # The same instant at another offset is an equal part, but not the same row.
    window = engine._kpi_windows[("L1", "final")]
    first = window.parts[0]
    window.parts[0] = (first[0].astimezone(timezone(timedelta(hours=1))), *first[1:])
    again = engine.snapshot()["keys"]["L1/final"]["kpi_window"]["parts"]
    assert again[0][0] == first[0].astimezone(timezone(timedelta(hours=1))).isoformat()
    assert again[0][0].endswith("+01:00") and after[0][0].endswith("+00:00")
    assert again == from_scratch(engine)["keys"]["L1/final"]["kpi_window"]["parts"]


class Changelog:
    """A changelog that keeps what it was given (``KafkaStateStore.save``)."""

    def __init__(self) -> None:
        self.saved: list[tuple[int, str, Any]] = []

    def save(self, entries: Iterable[tuple[int, str, bytes | None]]) -> None:
        for partition, key, blob in entries:
            self.saved.append((partition, key, None if blob is None else msgspec.json.decode(blob)))


def test_the_changelog_takes_the_state_just_saved_and_a_later_save_a_fresh_one(
    tmp_path: Any,
) -> None:
    changelog = Changelog()
    source = PartitionSource(payloads(200), 0)
    source.tracker = KafkaStateTracker(changelog=changelog)  # type: ignore[arg-type]
    store = LocalStateStore(tmp_path)
    engine = Engine(CONFIG)
    calls: list[str] = []
    snapshot_key = engine.snapshot_key

    def counted(key: str) -> dict[str, Any]:
        calls.append(key)
        return snapshot_key(key)

    engine.snapshot_key = counted  # type: ignore[method-assign]
    runner = Runner(
        engine, source, [Route(ListSink(), frozenset({"alerts"}))], ListSink(), state_store=store
    )
    for raw in source.poll(0):
        runner._handle(raw)
    runner.checkpoint()
    checkpoint = store.load()
    assert checkpoint is not None
    assert calls == []  # the changelog took the checkpoint's state: no second snapshot
    assert changelog.saved == [
        (0, "L3/weld-2", {"state": checkpoint.engine["keys"]["L3/weld-2"], "applied": {"events/0": 10}})
    ]  # fmt: skip

    # Records after the checkpoint change the key: a revoke saves its state anew.
    for raw in source.poll(0):
        runner._handle(raw)
    source.tracker.revoked([("events", 0)])
    assert calls == ["L3/weld-2"]
    state = changelog.saved[-1][2]["state"]
    assert state != checkpoint.engine["keys"]["L3/weld-2"]
    reference = Engine(CONFIG)
    for payload in payloads(200)[:20]:
        record = decode(RawRecord(payload, "test"))
        assert not isinstance(record, DeadLetter)
        reference.process(record)
    assert state == reference.snapshot_key("L3/weld-2")  # all 20 records, not the first 10


def params_from_scratch(detector: IMRChart) -> Any:
    return json.loads(json.dumps(detector._get_params(), default=repr, sort_keys=True))


def test_detectors_share_an_identity_only_where_their_parameters_have_the_same_json() -> None:
    detectors = [
        IMRChart(k_sigma=3, rules=RuleSet.nelson()),
        IMRChart(k_sigma=3.0, rules=RuleSet.nelson()),
        IMRChart(center=0.0, sigma=1.0),
        IMRChart(center=-0.0, sigma=1.0),
        IMRChart(rules=RuleSet(tests=(1, 2), k={2: 8})),
        IMRChart(rules=RuleSet(tests=(1, 2))),
    ]
    for detector in detectors * 2:  # the second time from what is kept
        document = json.loads(detector.snapshot())
        assert document["params"] == params_from_scratch(detector)
    texts = [json.loads(d.snapshot())["params"] for d in detectors]
    assert [json.dumps(p["k_sigma"]) for p in texts[:2]] == ["3", "3.0"]
    assert [json.dumps(p["center"]) for p in texts[2:4]] == ["0.0", "-0.0"]
    assert [p["rules"] for p in texts[4:]] == [
        "RuleSet(tests=(1, 2), k={2: 8})",
        "RuleSet(tests=(1, 2))",
    ]
    changed = detectors[0]
    changed.phase1 = 30  # a parameter set after construction is in the next snapshot
    assert json.loads(changed.snapshot())["params"]["phase1"] == 30
