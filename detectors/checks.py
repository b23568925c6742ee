"""The generic checks every detector must pass (after river's ``check_estimator``).

Each check takes a fresh detector and a stream of observations that suits it, and raises
``AssertionError`` with a reason when the contract is broken. ``tests/`` runs every check
over every detector; a new detector only has to be added to that list.

>>> from datetime import datetime, timezone
>>> from linewatch.detectors.spc import IndividualsChart
>>> ts = datetime(2026, 1, 1, tzinfo=timezone.utc)
>>> stream = [(ts, float(i % 7)) for i in range(200)]
>>> for check in ALL_CHECKS:
...     check(IndividualsChart(phase1=10), stream)
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from datetime import datetime

from linewatch.detectors.base import Detector, Observation

__all__ = [
    "ALL_CHECKS",
    "check_before_any_data",
    "check_bounded_memory",
    "check_clone_independence",
    "check_pure_scoring",
    "check_score_without_deepcopy",
    "check_snapshot_round_trip",
    "check_update_many_matches_update",
]

Stream = Sequence[tuple[datetime, Observation]]


def check_pure_scoring(detector: Detector, stream: Stream) -> None:
    """``score`` says what ``update`` would, and leaves the state untouched."""
    for ts, x in stream:
        before = detector.snapshot()
        scored = detector.score(ts, x)
        assert detector.snapshot() == before, "score() changed the detector's state"
        updated = detector.update(ts, x)
        assert scored == updated, f"score() gave {scored!r}, update() gave {updated!r}"


def check_clone_independence(detector: Detector, stream: Stream) -> None:
    """A clone has the same parameters, no learned state, and shares nothing mutable."""
    half = len(stream) // 2
    for ts, x in stream[:half]:
        detector.update(ts, x)
    clone = detector.clone()
    assert clone._get_params() == detector._get_params(), "clone() changed the parameters"
    fresh = type(detector)(**detector._get_params())
    assert clone.snapshot() == fresh.snapshot(), "clone() carried learned state over"
    before = detector.snapshot()
    for ts, x in stream:
        clone.update(ts, x)
    assert detector.snapshot() == before, "updating a clone changed the original"


def check_snapshot_round_trip(detector: Detector, stream: Stream) -> None:
    """``restore(snapshot())`` on a clone gives identical output from then on."""
    half = len(stream) // 2
    for ts, x in stream[:half]:
        detector.update(ts, x)
    twin = detector.clone()
    twin.restore(detector.snapshot())
    assert twin.snapshot() == detector.snapshot(), "restore() did not reproduce the snapshot"
    for ts, x in stream[half:]:
        assert twin.update(ts, x) == detector.update(ts, x), "restored twin diverged"


def check_bounded_memory(detector: Detector, stream: Stream) -> None:
    """State stays under ``max_state_bytes`` however long the stream runs."""
    repeats = max(1, 5000 // max(1, len(stream)))
    for _ in range(repeats):
        for ts, x in stream:
            detector.update(ts, x)
    size = len(detector.snapshot())
    assert size <= detector.max_state_bytes, (
        f"snapshot grew to {size} bytes (> {detector.max_state_bytes})"
    )


def check_before_any_data(detector: Detector, stream: Stream) -> None:
    """A new detector snapshots, restores and scores without error, and signals nothing yet."""
    twin = detector.clone()
    twin.restore(detector.snapshot())
    if stream:
        ts, x = stream[0]
        first = detector.update(ts, x)
        assert not first.signals, f"signalled on the very first observation: {first.signals!r}"


def check_update_many_matches_update(detector: Detector, stream: Stream) -> None:
    """The batch path gives exactly the per-sample path's output."""
    twin = detector.clone()
    one_by_one = [detector.update(ts, x) for ts, x in stream]
    batch = twin.update_many([ts for ts, _ in stream], [x for _, x in stream])
    assert batch == one_by_one, "update_many() differs from update() one by one"


def check_score_without_deepcopy(detector: Detector, stream: Stream) -> None:
    """A learned model (``copy_free_score = True``) scores without deep-copying itself.

    The base ``score`` deep-copies the detector, fine for a chart's few numbers but not for
    a forest; detectors that declare ``copy_free_score`` are held to it. Others pass.
    """
    if not getattr(detector, "copy_free_score", False):
        return
    calls = 0
    original = copy.deepcopy

    def counting(*args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        return original(*args, **kwargs)  # type: ignore[arg-type]

    copy.deepcopy = counting  # type: ignore[assignment]
    try:
        for ts, x in stream:
            detector.score(ts, x)
            detector.update(ts, x)
    finally:
        copy.deepcopy = original
    assert calls == 0, f"score() deep-copied {calls} time(s) over {len(stream)} observations"


ALL_CHECKS: tuple[Callable[[Detector, Stream], None], ...] = (
    check_before_any_data,
    check_pure_scoring,
    check_score_without_deepcopy,
    check_clone_independence,
    check_snapshot_round_trip,
    check_bounded_memory,
    check_update_many_matches_update,
)
