"""The line stage's reorder buffer: exact release orders, duplicates, late records, state."""

from __future__ import annotations

import random

import pytest

from linewatch.pipeline.reorder import Buffered, ReorderBuffer

ORIGINS = [("in", 0), ("in", 1), ("other", 0)]


def payloads(items: list[Buffered]) -> list[str]:
    return [item.payload for item in items]


def test_release_is_sorted_by_time_then_topic_partition_offset_below_the_least_watermark() -> None:
    buffer = ReorderBuffer(ORIGINS)
    buffer.add("in", 1, 0, 20, "in1@0 t20")
    buffer.add("in", 0, 0, 30, "in0@0 t30")
    buffer.add("other", 0, 0, 20, "other0@0 t20")
    buffer.add("in", 0, 1, 20, "in0@1 t20")
    buffer.add("in", 1, 1, 10, "in1@1 t10")
    buffer.advance("in", 0, 40)
    buffer.advance("in", 1, 40)
    assert buffer.watermark is None and buffer.release() == []  # "other/0" said nothing yet
    buffer.advance("other", 0, 30)
    assert buffer.watermark == 30
    # t20 ties: topic "in" before "other", then partition 0 before 1; t30 is not below 30.
    assert payloads(buffer.release()) == ["in1@1 t10", "in0@1 t20", "in1@0 t20", "other0@0 t20"]
    assert len(buffer) == 1
    buffer.advance("other", 0, 31)
    assert payloads(buffer.release()) == ["in0@0 t30"]


def test_a_lower_watermark_never_moves_an_origin_back_and_foreign_origins_have_no_say() -> None:
    buffer = ReorderBuffer([("in", 0)])
    buffer.advance("in", 0, 50)
    buffer.advance("in", 0, 10)  # a new owner that saw less of the partition
    buffer.advance("foreign", 7, 0)
    assert buffer.watermark == 50
    buffer.add("in", 0, 0, 49, "a")
    assert payloads(buffer.release()) == ["a"]


def test_a_replayed_range_is_dropped_as_duplicates_and_a_late_record_is_counted() -> None:
    buffer = ReorderBuffer([("in", 0)])
    for offset in range(4):
        assert buffer.add("in", 0, offset, 10 * offset, f"o{offset}")
    # The next owner starts again at the last commit (offset 2): those two are known.
    assert [buffer.add("in", 0, offset, 10 * offset, "again") for offset in (2, 3)] == [
        False,
        False,
    ]
    assert buffer.duplicates == 2
    buffer.advance("in", 0, 25)
    assert payloads(buffer.release()) == ["o0", "o1", "o2"]
    assert not buffer.add("in", 0, 4, 24, "late")  # older than what was released
    assert buffer.add("in", 0, 5, 25, "on time")  # not below the watermark: it waits
    assert (buffer.late, payloads(buffer.release())) == (1, [])
    buffer.advance("in", 0, 100)
    assert payloads(buffer.release()) == ["on time", "o3"]  # t25, then t30


def test_state_round_trip_gives_the_same_future_releases() -> None:
    buffer = ReorderBuffer(ORIGINS)
    for offset, ts in enumerate([5, 3, 9, 1]):
        buffer.add("in", offset % 2, offset, ts, f"r{offset}")
    for topic, partition in ORIGINS:
        buffer.advance(topic, partition, 4)
    first = payloads(buffer.release())
    twin = ReorderBuffer(ORIGINS)
    twin.set_state(buffer.to_state())
    assert twin.to_state() == buffer.to_state()
    for copy in (buffer, twin):
        copy.add("in", 0, 4, 1, "late")
        copy.add("in", 0, 5, 6, "r5")
        for topic, partition in ORIGINS:
            copy.advance(topic, partition, 100)
    assert first == ["r3", "r1"]
    assert payloads(buffer.release()) == payloads(twin.release()) == ["r0", "r5", "r2"]
    assert buffer.late == twin.late == 1


def test_no_origin_partition_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one origin partition"):
        ReorderBuffer([])


@pytest.mark.parametrize("seed", range(20))
def test_the_release_order_does_not_depend_on_arrival_interleaving_or_watermark_timing(
    seed: int,
) -> None:
    """Each origin's records arrive in offset order (one producer per partition); how the
    origins interleave and when watermarks come differs per run; the output must not."""
    rng = random.Random(seed)
    grace = 5
    origins = [("in", p) for p in range(3)]
    sequences: dict[tuple[str, int], list[int]] = {}
    for origin in origins:
        ts, times = rng.randrange(20), []
        for _ in range(40):
            ts += rng.randrange(4)
            times.append(ts - rng.randrange(grace + 1))  # out of order, within the grace
        sequences[origin] = times

    def run(arrival_seed: int) -> list[str]:
        order = random.Random(arrival_seed)
        buffer = ReorderBuffer(origins)
        position = dict.fromkeys(origins, 0)
        newest: dict[tuple[str, int], int] = {}
        out: list[str] = []
        while any(position[o] < len(sequences[o]) for o in origins):
            origin = order.choice([o for o in origins if position[o] < len(sequences[o])])
            for _ in range(order.randrange(1, 6)):
                offset = position[origin]
                if offset == len(sequences[origin]):
                    break
                ts = sequences[origin][offset]
                assert buffer.add(*origin, offset, ts, f"{origin[1]}@{offset}")
                newest[origin] = max(newest.get(origin, ts), ts)
                position[origin] += 1
            if order.random() < 0.3:  # a checkpoint of that origin's owner
                buffer.advance(*origin, newest[origin] - grace)
                out += payloads(buffer.release())
        for origin in origins:
            buffer.advance(*origin, newest[origin] - grace)
        return out + payloads(buffer.release())

    runs = [run(seed * 100 + n) for n in range(4)]
    assert runs[1] == runs[0] and runs[2] == runs[0] and runs[3] == runs[0]
    expected = sorted(
        (ts, p, offset)
        for (_, p), times in sequences.items()
        for offset, ts in enumerate(times)
        if ts < min(max(t) for t in sequences.values()) - grace
    )
    assert runs[0] == [f"{p}@{offset}" for _, p, offset in expected]
