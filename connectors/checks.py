"""The generic checks every Source and Sink must pass (after river's ``check_estimator``).

A check takes a *case*: how to build a fresh instance, plus what it should hold or be
sent. :class:`SourceCase` names how many records a finite source holds;
:class:`SinkCase` gives items the sink takes and how to count what it delivered
(read back from where it writes). Each check raises ``AssertionError`` with a reason
when the contract is broken. ``tests/`` finds every source and sink class in
``linewatch.connectors`` by introspection and runs every check over each; a class
found without a case fails there, so nothing is silently unchecked. A class gives its
case through the classmethod named :data:`CASE_FACTORY` (``_contract_case(tmp_path)``).

>>> from linewatch.connectors.memory import IterableSource, ListSink
>>> source = SourceCase(lambda: IterableSource([b"a", b"b", b"c"], batch_size=2), records=3)
>>> for check in SOURCE_CHECKS:
...     check(source)
>>> sink = SinkCase(
...     ListSink, items=["x", "y"], delivered=lambda s: len(s.items),
...     refusing=lambda: ListSink(refuse_flushes=2),
... )
>>> for check in SINK_CHECKS:
...     check(sink)
"""

from __future__ import annotations

import importlib
import json
import math
import pkgutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from linewatch.pipeline.models import BackpressureError, RawRecord, Sink, SinkError, Source

__all__ = [
    "CASE_FACTORY",
    "SINK_CHECKS",
    "SINK_MEMBERS",
    "SOURCE_CHECKS",
    "SOURCE_MEMBERS",
    "SinkCase",
    "SourceCase",
    "check_backpressure_loses_nothing",
    "check_close_is_idempotent",
    "check_commit_keeps_position",
    "check_empty_flush",
    "check_exhausted_is_final",
    "check_flush_after_close_is_consistent",
    "check_flush_delivers_once",
    "check_poll_returns_raw_records",
    "check_sink_close_is_idempotent",
    "find_connector_classes",
    "is_sink_class",
    "is_source_class",
]

#: the classmethod a Source or Sink class defines to give its case
CASE_FACTORY = "_contract_case"


def _members(protocol: type) -> frozenset[str]:
    return frozenset(name for name in vars(protocol) if not name.startswith("_"))


#: what a class needs to be a Source / a Sink (the protocols' public members)
SOURCE_MEMBERS = _members(Source)
SINK_MEMBERS = _members(Sink)


def is_source_class(cls: type) -> bool:
    """Whether ``cls`` has every member of :class:`~linewatch.pipeline.models.Source`."""
    return all(hasattr(cls, m) for m in SOURCE_MEMBERS)


def is_sink_class(cls: type) -> bool:
    """Whether ``cls`` has every member of :class:`~linewatch.pipeline.models.Sink`."""
    return all(callable(getattr(cls, m, None)) for m in SINK_MEMBERS)


def find_connector_classes(package: str = "linewatch.connectors") -> dict[str, type]:
    """Every public class defined under ``package`` that is a Source or a Sink, by name.

    >>> found = find_connector_classes()
    >>> is_source_class(found["IterableSource"]), is_sink_class(found["ListSink"])
    (True, True)
    """
    root = importlib.import_module(package)
    found: dict[str, type] = {}
    for info in pkgutil.walk_packages(root.__path__, root.__name__ + "."):
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if (
                isinstance(obj, type)
                and obj.__module__ == module.__name__
                and not name.startswith("_")
                and (is_source_class(obj) or is_sink_class(obj))
            ):
                if name in found:
                    raise ValueError(f"two connector classes named {name}: {module.__name__}")
                found[name] = obj
    return found


@dataclass(frozen=True)
class SourceCase:
    """How to check a source: ``make`` builds a fresh one.

    ``records``: how many records it hands out in all (a finite source), or the
    least a live source (Kafka) must hand out within ``deadline_s``; ``finite``:
    whether it ever becomes ``exhausted``.
    """

    make: Callable[[], Source]
    records: int
    finite: bool = True
    poll_timeout: float = 0.0
    deadline_s: float = 30.0


@dataclass(frozen=True)
class SinkCase:
    """How to check a sink: ``make`` builds a fresh one, ``items`` are added to it.

    ``delivered(sink)`` counts what the sink made durable, read back from where it
    writes. ``refusing`` builds one whose next flushes raise
    :class:`~linewatch.pipeline.models.BackpressureError` (None: it cannot be made to).
    """

    make: Callable[[], Sink]
    items: Sequence[Any]
    delivered: Callable[[Any], int]
    refusing: Callable[[], Sink] | None = None
    deadline_s: float = 30.0


# -- sources --------------------------------------------------------------------------


def _drain(case: SourceCase, source: Source) -> list[RawRecord]:
    """Poll until the source is exhausted (finite) or ``records`` arrived (live)."""
    got: list[RawRecord] = []
    deadline = time.monotonic() + case.deadline_s
    while time.monotonic() < deadline:
        batch = source.poll(case.poll_timeout)
        assert isinstance(batch, list), f"poll() returned {type(batch).__name__}, not a list"
        got += batch
        if source.exhausted if case.finite else len(got) >= case.records:
            return got
    raise AssertionError(f"{len(got)} record(s) and not done after {case.deadline_s}s")


def _json_position(source: Source) -> dict[str, Any]:
    position = source.snapshot()
    assert isinstance(position, dict), f"snapshot() is {type(position).__name__}, not a dict"
    try:
        text = json.dumps(position)
    except (TypeError, ValueError) as exc:
        raise AssertionError(f"snapshot() is not JSON-able: {exc}") from None
    assert json.loads(text) == position, "snapshot() does not survive a JSON round trip"
    return position


def check_poll_returns_raw_records(case: SourceCase) -> None:
    """``poll`` hands out every record once, as RawRecords with an origin and a position."""
    source = case.make()
    try:
        records = _drain(case, source)
    finally:
        source.close()
    bad = [r for r in records if not isinstance(r, RawRecord)]
    assert not bad, f"poll() returned {type(bad[0]).__name__}, not RawRecord"
    if case.finite:
        assert len(records) == case.records, f"{len(records)} records, expected {case.records}"
    else:
        assert len(records) >= case.records, f"{len(records)} records, expected {case.records}"
    for record in records:
        assert isinstance(record.origin, str) and record.origin, f"no origin: {record!r}"
        assert record.position is not None, f"record {record.origin} has no position"
    positions = [repr(r.position) for r in records]
    assert len(set(positions)) == len(positions), "two records share a position"


def check_exhausted_is_final(case: SourceCase) -> None:
    """A finite source ends exhausted and then polls empty; a live one never exhausts."""
    source = case.make()
    try:
        if case.records > 0:
            assert not source.exhausted, "exhausted before anything was polled"
        _drain(case, source)
        if case.finite:
            for _ in range(3):
                assert source.poll(case.poll_timeout) == [], "poll() after exhausted gave records"
                assert source.exhausted, "exhausted went back to False"
        else:
            assert not source.exhausted, "a live source reported exhausted"
    finally:
        source.close()


def check_commit_keeps_position(case: SourceCase) -> None:
    """``snapshot()`` is JSON, moves when records are polled, and ``commit`` leaves it be."""
    source = case.make()
    try:
        source.commit()  # nothing polled yet: allowed, and a no-op
        before = _json_position(source)
        _drain(case, source)
        after = _json_position(source)
        if case.records > 0:
            assert after != before, f"snapshot() still {before} after polling records"
        source.commit()
        assert _json_position(source) == after, "commit() changed snapshot()"
        source.commit()
        assert _json_position(source) == after, "a second commit() changed snapshot()"
    finally:
        source.close()


def check_close_is_idempotent(case: SourceCase) -> None:
    """``close`` twice raises nothing (a runner closes on every way out)."""
    source = case.make()
    source.poll(case.poll_timeout)
    source.close()
    source.close()


SOURCE_CHECKS: tuple[Callable[[SourceCase], None], ...] = (
    check_poll_returns_raw_records,
    check_exhausted_is_final,
    check_commit_keeps_position,
    check_close_is_idempotent,
)


# -- sinks ----------------------------------------------------------------------------


def check_empty_flush(case: SinkCase) -> None:
    """A flush with nothing added succeeds and delivers nothing."""
    sink = case.make()
    try:
        sink.flush()
        sink.flush()
        assert case.delivered(sink) == 0, "an empty flush delivered something"
    finally:
        sink.close()


def check_flush_delivers_once(case: SinkCase) -> None:
    """Everything added is delivered by ``flush``, once: a second flush repeats nothing."""
    sink = case.make()
    try:
        for item in case.items:
            sink.add(item)
        sink.flush()
        count = case.delivered(sink)
        assert count == len(case.items), f"{count} delivered of {len(case.items)} added"
        sink.flush()
        assert case.delivered(sink) == count, "a second flush delivered items again"
    finally:
        sink.close()


def check_sink_close_is_idempotent(case: SinkCase) -> None:
    """``close`` after a flush, twice, raises nothing and delivers nothing more."""
    sink = case.make()
    for item in case.items:
        sink.add(item)
    sink.flush()
    count = case.delivered(sink)
    sink.close()
    sink.close()
    assert case.delivered(sink) == count, "close() delivered items again"


def _outcome(call: Callable[[], None]) -> type[BaseException] | None:
    try:
        call()
    except Exception as exc:
        return type(exc)
    return None


def check_flush_after_close_is_consistent(case: SinkCase) -> None:
    """``flush`` after ``close`` is a no-op or a clear error, and the same every time."""
    sink = case.make()
    sink.close()
    first = _outcome(sink.flush)
    second = _outcome(sink.flush)
    assert first is second, f"flush() after close(): first {first}, then {second}"
    allowed = (SinkError, ValueError)  # ValueError: I/O on a closed file
    assert first is None or issubclass(first, allowed), f"flush() after close() raised {first}"


def check_backpressure_loses_nothing(case: SinkCase) -> None:
    """A refused flush raises BackpressureError with a usable ``retry_after``; a later
    flush delivers every item exactly once."""
    if case.refusing is None:
        return
    sink = case.refusing()
    try:
        for item in case.items:
            sink.add(item)
        refusals = 0
        deadline = time.monotonic() + case.deadline_s
        while True:
            try:
                sink.flush()
                break
            except BackpressureError as exc:
                refusals += 1
                retry = exc.retry_after
                assert isinstance(retry, int | float), f"retry_after is {retry!r}"
                assert math.isfinite(retry) and retry >= 0, f"retry_after is {retry!r}"
                assert time.monotonic() < deadline, f"still refusing after {case.deadline_s}s"
                time.sleep(min(retry, 1.0))
        assert refusals > 0, "the refusing sink never refused a flush"
        count = case.delivered(sink)
        assert count == len(case.items), f"{count} delivered of {len(case.items)} after refusals"
    finally:
        sink.close()


SINK_CHECKS: tuple[Callable[[SinkCase], None], ...] = (
    check_empty_flush,
    check_flush_delivers_once,
    check_sink_close_is_idempotent,
    check_flush_after_close_is_consistent,
    check_backpressure_loses_nothing,
)
