"""The columnar lane equals the per-record path: same outputs, same state, same refusals."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest

from linewatch.pipeline.columnar_lane import UTC_ZONE, KeyColumns, Stamps, lane_key
from linewatch.pipeline.config import Config
from linewatch.pipeline.engine import Engine, RecordRejected
from linewatch.pipeline.models import Measurement, Output, Parameter

T0_US = 1_764_000_000_000_000  # 2025-11-24 16:00 UTC


def _config(points_sink: bool = False) -> Config:
    characteristics: list[dict[str, Any]] = [
        # given limits, spec limits and rolling capability
        {
            "name": "given",
            "chart": "imr",
            "rules": "nelson",
            "limits": {"center": 0.0, "sigma": 1.0},
            "lsl": -2.5,
            "usl": 2.5,
            "capability": {"window": 50},
        },
        # phase I from the data, a plausible range and the sigma guard
        {
            "name": "phase1",
            "chart": "imr",
            "rules": "nelson",
            "phase1": 30,
            "plausible": {"min": -50.0, "max": 50.0},
            "resolve_after_points": 3,
        },
        {"name": "plain", "chart": "imr", "phase1": 20},
    ]
    parameters = [
        {
            "equipment": "e1",
            "name": "temp",
            "chart": "imr",
            "rules": "nelson",
            "phase1": 25,
            "lsl": -3.0,
            "usl": 3.0,
        },
    ]
    raw: dict[str, Any] = {
        "version": 1,
        "lines": [
            {
                "name": "L1",
                "stations": [
                    {"name": "s1", "characteristics": characteristics, "parameters": parameters},
                ],
            }
        ],
    }
    if points_sink:
        raw["sinks"] = [{"type": "jsonl", "path": "points.jsonl", "outputs": ["points"]}]
    return Config.model_validate(raw)


def _values(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    x[n // 3 : n // 3 + 40] += 2.2  # a shift: test 1, 2, 5, 6 fire, then resolve
    x[2 * n // 3 :: 97] = 4.0  # lone spikes out of spec
    return x


def _per_record(engine: Engine, kind: str, name: str, micros: np.ndarray, x: np.ndarray):
    outputs: list[Output] = []
    refused: list[tuple[int, str]] = []
    for i, (ts, value) in enumerate(zip(Stamps(micros), x.tolist(), strict=True)):
        if kind == "parameter":
            record: Any = Parameter(
                ts=ts, line="L1", station="s1", equipment="e1", name="temp", value=value
            )
        else:
            record = Measurement(ts=ts, line="L1", station="s1", characteristic=name, value=value)
        try:
            outputs += engine.process(record)
        except RecordRejected as exc:
            refused.append((i, str(exc)))
    return outputs, refused


def _state(engine: Engine) -> tuple[Any, ...]:
    return (
        engine.snapshot(),
        sorted(engine.stream_stats, key=lambda s: s.identity.characteristic),
        dict(engine.records_by_kind),
        engine.points_not_built,
        [a.fingerprint for a in engine.alerts.firing],
    )


@pytest.mark.parametrize("points", [False, True])
@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("measurement", "given"),
        ("measurement", "phase1"),
        ("measurement", "plain"),
        ("parameter", "e1/temp"),
    ],
)
def test_one_stream_equals_per_record(points: bool, kind: str, name: str) -> None:
    lane, plain = Engine(_config(points)), Engine(_config(points))
    lane.points_wanted = plain.points_wanted = points
    micros = T0_US + np.arange(3000, dtype=np.int64) * 1_000_000
    x = _values(3000, 5)
    expected, refused = _per_record(plain, kind, name, micros, x)
    # in three calls: the stream's state carries over between them
    got: list[Output] = []
    for part in np.array_split(np.arange(3000), [17, 1400]):
        result = lane.observe_columns("L1", "s1", name, micros[part], x[part], kind)  # type: ignore[arg-type]
        assert result.laned and not result.refused
        got += result.outputs
    assert refused == []
    assert got == expected
    assert len([o for o in got if getattr(o, "status", None) == "firing"]) >= 5
    assert _state(lane) == _state(plain)


def test_float_seconds_are_microseconds() -> None:
    lane, plain = Engine(_config()), Engine(_config())
    lane.points_wanted = plain.points_wanted = False
    micros = T0_US + np.arange(500, dtype=np.int64) * 250_123
    x = _values(500, 9)
    expected, _ = _per_record(plain, "measurement", "given", micros, x)
    result = lane.observe_columns("L1", "s1", "given", micros / 1e6, x)
    assert result.laned and result.outputs == expected
    assert _state(lane) == _state(plain)


@pytest.mark.parametrize(
    "damage",
    ["late", "future", "implausible", "huge", "backwards"],
)
def test_what_the_lane_cannot_prove_goes_record_by_record(damage: str) -> None:
    lane, plain = Engine(_config()), Engine(_config())
    lane.points_wanted = plain.points_wanted = False
    micros = T0_US + np.arange(400, dtype=np.int64) * 1_000_000
    x = _values(400, 3)
    name = "unknown" if damage == "unconfigured" else "phase1"
    if damage == "late":
        micros[300] -= 3_600_000_000
    elif damage == "future":
        micros[300] += 3 * 86_400_000_000
    elif damage == "implausible":
        x[300] = 45.0  # inside plausible, far beyond 50 sigma of the established process
    elif damage == "huge":
        x[300] = 1e200
    elif damage == "backwards":
        micros[300] = micros[299] - 1  # out of order yet within the lateness: accepted
    expected, refused = _per_record(plain, "measurement", name, micros, x)
    result = lane.observe_columns("L1", "s1", name, micros, x)
    assert not result.laned
    assert result.outputs == expected
    assert result.refused == refused
    assert [i for i, _ in refused] == ([] if damage in ("backwards", "unconfigured") else [300])
    assert _state(lane) == _state(plain)
    assert lane.unconfigured == plain.unconfigured


def test_guard_establishing_inside_the_batch_refuses_like_per_record() -> None:
    lane, plain = Engine(_config()), Engine(_config())
    micros = T0_US + np.arange(100, dtype=np.int64) * 1_000_000
    x = _values(100, 4)
    x[10] = 60.0  # outside plausible while the guard still collects its first values
    expected, refused = _per_record(plain, "measurement", "phase1", micros, x)
    result = lane.observe_columns("L1", "s1", "phase1", micros, x)
    assert not result.laned and result.refused == refused and result.outputs == expected
    assert [i for i, _ in refused] == [10]
    assert _state(lane) == _state(plain)


def test_several_streams_of_one_key_share_its_clock() -> None:
    lane, plain = Engine(_config()), Engine(_config())
    lane.points_wanted = plain.points_wanted = False
    names = ["given", "phase1", "plain"]
    n = 3000
    micros = T0_US + (np.arange(n, dtype=np.int64) // 3) * 1_000_000
    stream = np.arange(n) % 3
    x = _values(n, 11)
    expected: list[Output] = []
    for i in range(n):
        expected += plain.process(
            Measurement(
                ts=Stamps(micros)[i],
                line="L1",
                station="s1",
                characteristic=names[stream[i]],
                value=float(x[i]),
            )
        )
    columns = KeyColumns(
        "L1", "s1", micros, stream.astype(np.intp), names, ["measurement"] * 3, x, np.arange(n)
    )
    tagged = lane_key(lane, columns)
    assert tagged is not None
    tagged.sort(key=lambda t: (t[0], t[1]))
    assert [out for _, _, out in tagged] == expected
    assert _state(lane) == _state(plain)


def test_stamps_are_the_datetimes_pyarrow_gives() -> None:
    import pyarrow as pa

    micros = np.array([0, T0_US + 123_457, 7_258_118_399_999_999], dtype=np.int64)
    cells = pa.array(micros, type=pa.timestamp("us", tz="UTC")).to_pylist()
    stamps = list(Stamps(micros))
    assert stamps == cells
    assert [s.tzinfo for s in stamps] == [c.tzinfo for c in cells]
    assert stamps[1] == datetime(2025, 11, 24, 16, 0, 0, 123_457, tzinfo=UTC_ZONE)
    assert Stamps(micros)[1:][0] == stamps[1]
    assert [s.timestamp() for s in stamps] == (micros / 1e6).tolist()
    assert stamps[2] - stamps[1] > timedelta(days=365 * 170)


def test_unconfigured_streams_are_counted_and_move_the_clock() -> None:
    lane, plain = Engine(_config()), Engine(_config())
    micros = T0_US + np.arange(200, dtype=np.int64) * 1_000_000
    x = _values(200, 2)
    expected, refused = _per_record(plain, "measurement", "unknown", micros, x)
    result = lane.observe_columns("L1", "s1", "unknown", micros, x)
    assert result.laned and result.outputs == expected == [] and refused == []
    assert lane.unconfigured == plain.unconfigured == {"L1/s1/unknown": 200}
    assert _state(lane) == _state(plain)
    assert lane.snapshot()["keys"]["L1/s1"]["clock"]["recent"][-1] == micros[-1] / 1e6
