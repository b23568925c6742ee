"""The generic checks every detector must pass (after river's ``check_estimator``).

Each check takes a fresh detector and a stream of observations that suits it, and raises
``AssertionError`` with a reason when the contract is broken. :func:`check_detector` runs
every check over a detector class with each of its ``_unit_test_params()`` and each
stream its registered input (``takes``) calls for; ``tests/`` finds every detector class
by walking :mod:`linewatch.detectors` (:func:`detector_classes`), so a new detector is
checked without being listed anywhere.

>>> from datetime import datetime, timezone
>>> from linewatch.detectors.spc import IMRChart
>>> ts = datetime(2026, 1, 1, tzinfo=timezone.utc)
>>> stream = [(ts, float(i % 7)) for i in range(200)]
>>> for check in ALL_CHECKS:
...     check(IMRChart(phase1=10), stream)
>>> check_detector(IMRChart)
"""

from __future__ import annotations

import copy
import importlib
import inspect
import pkgutil
import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from linewatch.detectors.base import Detector, Observation
from linewatch.detectors.registry import Takes, chart_of_class

__all__ = [
    "ALL_CHECKS",
    "check_before_any_data",
    "check_bounded_memory",
    "check_clone_independence",
    "check_detector",
    "check_pure_scoring",
    "check_score_without_deepcopy",
    "check_snapshot_round_trip",
    "check_update_many_matches_update",
    "detector_classes",
    "unit_test_streams",
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


# -- streams that suit each kind of input, and the whole suite over one class ---------------

_T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _floats(rng: random.Random, n: int) -> list[Any]:
    return [round(rng.gauss(10.0, 1.0) + (1.5 if i > 80 else 0.0), 3) for i in range(n)]


def _groups(rng: random.Random, n: int) -> list[Any]:
    return [[round(rng.gauss(5.0, 0.5), 3) for _ in range(rng.choice((3, 4, 5)))] for _ in range(n)]


def _counts(rng: random.Random, n: int) -> list[Any]:
    out = []
    for _ in range(n):
        size = rng.choice((80, 100, 120))
        out.append({"count": sum(rng.random() < 0.08 for _ in range(size)), "size": size})
    return out


def _vectors(rng: random.Random, n: int) -> list[Any]:
    """Named values ``a``, ``b`` (correlated with ``a``) and ``c``."""
    out = []
    for _ in range(n):
        a = rng.gauss(0.0, 1.0)
        b = 0.5 * a + rng.gauss(0.0, 1.0)
        out.append({"a": round(a, 4), "b": round(b, 4), "c": round(rng.gauss(3.0, 0.2), 4)})
    return out


def _parts(rng: random.Random, n: int) -> list[Any]:
    """Values of part numbers ``PN-1`` (10 ± 0.5), ``PN-2`` (50 ± 2), ``PN-3`` (3 ± 0.1)."""
    targets = {"PN-1": (10.0, 0.5), "PN-2": (50.0, 2.0), "PN-3": (3.0, 0.1)}
    out = []
    for _ in range(n):
        part = rng.choice(sorted(targets))
        mean, sd = targets[part]
        out.append({"part": part, "value": round(rng.gauss(mean, sd), 4)})
    return out


_MAKERS: dict[str, tuple[Callable[[random.Random, int], list[Any]], ...]] = {
    "value": (_floats,),
    "subgroup": (_groups,),
    "values": (_floats, _groups),
    "counts": (_counts,),
    "parts": (_parts,),
    "vector": (_vectors,),
}


def unit_test_streams(takes: Takes, n: int = 120, seed: int = 1) -> list[Stream]:
    """Timestamped streams of ``n`` observations of the kind ``takes`` names, seeded."""
    return [
        [(_T0 + timedelta(seconds=i), x) for i, x in enumerate(make(random.Random(seed), n))]
        for make in _MAKERS[takes]
    ]


def check_detector(cls: type[Detector]) -> None:
    """Every check over ``cls`` with each of its ``_unit_test_params()`` (river style).

    The streams are those its registry entry's ``takes`` calls for; a detector class
    without ``_unit_test_params`` or without a registry entry fails.
    """
    params = getattr(cls, "_unit_test_params", None)
    assert params is not None, f"{cls.__name__} has no _unit_test_params() classmethod"
    info = chart_of_class(cls)
    assert info is not None, f"{cls.__name__} is not registered (detectors.registry)"
    for settings in params():
        for stream in unit_test_streams(info.takes):
            for check in ALL_CHECKS:
                try:
                    check(cls(**settings), stream)
                except AssertionError as exc:
                    raise AssertionError(
                        f"{cls.__name__}({settings}): {check.__name__}: {exc}"
                    ) from exc


def detector_classes(package: str = "linewatch.detectors") -> list[type[Detector]]:
    """Every concrete, public Detector subclass defined in ``package`` (imported to find it)."""
    root = importlib.import_module(package)
    for module in pkgutil.walk_packages(root.__path__, package + "."):
        importlib.import_module(module.name)
    found: list[type[Detector]] = []
    pending = list(Detector.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if (
            cls.__module__.startswith(package + ".")
            and not cls.__name__.startswith("_")
            and not inspect.isabstract(cls)
            and cls not in found
        ):
            found.append(cls)
    return sorted(found, key=lambda c: (c.__module__, c.__name__))
