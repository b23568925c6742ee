"""Every Source and Sink in linewatch.connectors passes the generic contract checks.

Classes are FOUND by walking the package (a class with every member of the
``Source`` or ``Sink`` protocol), never listed by hand. Each needs a case: its own
``_contract_case(tmp_path)`` classmethod, else an entry in ``CASES`` below, else (it
needs a server) an entry in the integration module's ``SERVER_CASES``. A class found
without one fails ``test_every_source_and_sink_has_a_case``.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from rich.console import Console

from linewatch.connectors import checks
from linewatch.connectors.checks import SINK_CHECKS, SOURCE_CHECKS, SinkCase, SourceCase
from linewatch.connectors.console import ConsoleSink
from linewatch.connectors.files import FileSource, JsonlSink
from linewatch.connectors.memory import IterableSource, ListSink
from linewatch.pipeline.models import Alert, BackpressureError, ChartPoint, Measurement, RawRecord
from tests.integration.test_connector_checks_servers import SERVER_CASES

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def measurements(n: int) -> list[Measurement]:
    return [
        Measurement(
            ts=T0 + timedelta(seconds=i),
            line="L1",
            station="S1",
            characteristic="gap",
            value=0.5 + i,
        )
        for i in range(n)
    ]


def alert(i: int) -> Alert:
    return Alert(
        alert_id=f"a{i}",
        fingerprint=f"fp{i}",
        status="firing",
        ts=T0 + timedelta(minutes=i),
        starts_at=T0 + timedelta(minutes=i),
        ends_at=None,
        line="L1",
        station="S1",
        characteristic="gap",
        chart="imr",
        rule="we1",
        severity="warning",
        value=9.0 + i,
        cl=5.0,
        ucl=8.0,
        lcl=2.0,
        message=f"point {i} above UCL",
    )


def chart_point(i: int) -> ChartPoint:
    return ChartPoint(
        ts=T0 + timedelta(minutes=i),
        line="L1",
        station="S1",
        characteristic="gap",
        chart="imr",
        value=5.0 + i,
        cl=5.0,
        ucl=8.0,
        lcl=2.0,
        zone="A",
        limits_version=1,
    )


# -- cases for the classes that need no server ------------------------------------------
# Keyed by class name. TODO(lead): move each into its class as `_contract_case` once
# files.py and the influxdb package settle (other helpers own those files now).


def _iterable_source(tmp_path: Path) -> SourceCase:
    payloads = [msgspec.json.encode(m) for m in measurements(5)]
    return SourceCase(lambda: IterableSource(payloads, batch_size=2), records=5)


def _file_source(tmp_path: Path) -> SourceCase:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"".join(msgspec.json.encode(m) + b"\n" for m in measurements(5)))
    return SourceCase(lambda: FileSource(path, batch_size=2), records=5)


def _list_sink(tmp_path: Path) -> SinkCase:
    return SinkCase(
        ListSink,
        items=[alert(0), chart_point(1), *measurements(2)],
        delivered=lambda sink: len(sink.items),
        refusing=lambda: ListSink(refuse_flushes=2, retry_after=0.01),
    )


def _jsonl_sink(tmp_path: Path) -> SinkCase:
    paths = iter(tmp_path / f"out-{i}.jsonl" for i in range(100))

    def lines(sink: JsonlSink) -> int:
        return len(sink.path.read_bytes().splitlines())

    return SinkCase(
        lambda: JsonlSink(next(paths)),
        items=[alert(0), chart_point(1), *measurements(2)],
        delivered=lines,
    )


def _console_sink(tmp_path: Path) -> SinkCase:
    outputs: dict[int, io.StringIO] = {}

    def make() -> ConsoleSink:
        out = io.StringIO()
        sink = ConsoleSink("live", console=Console(file=out, width=200))
        outputs[id(sink)] = out
        return sink

    def printed(sink: ConsoleSink) -> int:
        return len(outputs[id(sink)].getvalue().splitlines())

    return SinkCase(make, items=[alert(0), alert(1), alert(2)], delivered=printed)


CASES: dict[str, Callable[[Path], SourceCase | SinkCase]] = {
    "IterableSource": _iterable_source,
    "FileSource": _file_source,
    "ListSink": _list_sink,
    "JsonlSink": _jsonl_sink,
    "ConsoleSink": _console_sink,
}

# Real contract breaks, found by these checks and left to the modules' owners. strict:
# once fixed, the test XPASSes and fails until the entry is removed.
KNOWN_BREAKS: dict[tuple[str, str], str] = {}


# -- discovery ----------------------------------------------------------------------------


FOUND = checks.find_connector_classes()


def case_for(cls: type, tmp_path: Path) -> SourceCase | SinkCase:
    own = getattr(cls, checks.CASE_FACTORY, None)
    case: SourceCase | SinkCase = (
        own(tmp_path) if own is not None else CASES[cls.__name__](tmp_path)
    )
    return case


def unit_params() -> list[Any]:
    params = []
    for name, cls in sorted(FOUND.items()):
        if name in SERVER_CASES or (
            getattr(cls, checks.CASE_FACTORY, None) is None and name not in CASES
        ):
            continue
        kind = SOURCE_CHECKS if checks.is_source_class(cls) else SINK_CHECKS
        for check in kind:
            marks = []
            reason = KNOWN_BREAKS.get((name, check.__name__))
            if reason is not None:
                marks.append(pytest.mark.xfail(reason=reason, strict=True, raises=Exception))
            params.append(pytest.param(cls, check, id=f"{name}-{check.__name__}", marks=marks))
    return params


def test_discovery_finds_the_known_sources_and_sinks() -> None:
    """The walk sees what the package holds today (a new class only adds to this)."""
    expected = {
        "ConsoleSink",
        "FileSource",
        "InfluxSink",
        "InfluxSource",
        "IterableSource",
        "JsonlSink",
        "KafkaAlertSink",
        "KafkaDeadLetterSink",
        "KafkaSource",
        "ListSink",
    }
    assert expected <= set(FOUND), f"not found: {sorted(expected - set(FOUND))}"
    assert checks.is_source_class(FOUND["KafkaSource"])
    assert not checks.is_sink_class(FOUND["KafkaSource"])
    assert checks.is_sink_class(FOUND["InfluxSink"])
    assert not checks.is_source_class(FOUND["InfluxSink"])


def test_every_source_and_sink_has_a_case() -> None:
    missing = [
        name
        for name, cls in sorted(FOUND.items())
        if getattr(cls, checks.CASE_FACTORY, None) is None
        and name not in CASES
        and name not in SERVER_CASES
    ]
    stale = sorted((set(CASES) | set(SERVER_CASES)) - set(FOUND))
    assert missing == [], (
        f"no contract case for {missing}: give the class a `{checks.CASE_FACTORY}(tmp_path)` "
        "classmethod (or, for now, an entry in CASES / SERVER_CASES)"
    )
    assert stale == [], f"cases for classes that are gone: {stale}"


def test_the_protocol_members_are_read_from_the_protocols() -> None:
    assert {"poll", "commit", "exhausted", "snapshot", "close"} == checks.SOURCE_MEMBERS
    assert {"add", "flush", "close"} == checks.SINK_MEMBERS


@pytest.mark.parametrize(("cls", "check"), unit_params())
def test_contract(cls: type, check: Callable[[Any], None], tmp_path: Path) -> None:
    check(case_for(cls, tmp_path))


# -- the checks themselves can fail ---------------------------------------------------------


class _RepeatingSink(ListSink):
    """Delivers everything pending again on every flush."""

    def flush(self) -> None:
        self.items.extend(self.pending)


class _DroppingSink(ListSink):
    """Refuses once, then forgets what it held."""

    def flush(self) -> None:
        if self.refuse_flushes:
            self.refuse_flushes = 0
            self.pending.clear()
            raise BackpressureError("full", retry_after=0.0)


class _NanRetrySink(ListSink):
    def flush(self) -> None:
        if self.refuse_flushes:
            self.refuse_flushes = 0
            raise BackpressureError("full", retry_after=float("nan"))
        super().flush()


class _CommitMovesSource(IterableSource):
    def commit(self) -> None:
        super().commit()
        self.name += "+"


class _CloseOnceSource(IterableSource):
    def close(self) -> None:
        if getattr(self, "_closed", False):
            raise ValueError("closed twice")
        self._closed = True


class _ShortSource(IterableSource):
    """Says exhausted after one batch, handing out only part of its records."""

    def poll(self, timeout: float) -> list[RawRecord]:
        batch = super().poll(timeout)
        self._exhausted = True
        return batch


def _src(cls: type[IterableSource]) -> SourceCase:
    return SourceCase(lambda: cls([b"a", b"b", b"c"], batch_size=2), records=3)


def _sink(make: Callable[[], ListSink]) -> SinkCase:
    return SinkCase(make, items=["x", "y"], delivered=lambda s: len(s.items), refusing=make)


@pytest.mark.parametrize(
    ("check", "case", "message"),
    [
        (checks.check_flush_delivers_once, _sink(_RepeatingSink), "second flush delivered"),
        (
            checks.check_backpressure_loses_nothing,
            _sink(lambda: _DroppingSink(refuse_flushes=1)),
            "0 delivered of 2 after refusals",
        ),
        (
            checks.check_backpressure_loses_nothing,
            _sink(lambda: _NanRetrySink(refuse_flushes=1)),
            "retry_after is nan",
        ),
        (
            checks.check_backpressure_loses_nothing,
            _sink(ListSink),
            "never refused",
        ),
        (checks.check_commit_keeps_position, _src(_CommitMovesSource), "commit\\(\\) changed"),
        (checks.check_close_is_idempotent, _src(_CloseOnceSource), "closed twice"),
        (checks.check_poll_returns_raw_records, _src(_ShortSource), "2 records, expected 3"),
    ],
)
def test_a_broken_connector_fails_its_check(
    check: Callable[[Any], None], case: Any, message: str
) -> None:
    with pytest.raises((AssertionError, ValueError), match=message):
        check(case)
