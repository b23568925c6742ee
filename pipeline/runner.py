"""The loop: poll → decode/validate → route → detectors → alerts → sinks → checkpoint.

At every checkpoint the runner flushes every sink (the dead letters too), then saves the
detector state with the source position, and only then commits the source. A record's
effects are therefore durable before its offset is committed (at-least-once). A sink that
raises :class:`~linewatch.pipeline.models.BackpressureError` is retried after its ``retry_after``,
and meanwhile the runner neither polls nor commits.

**Poison pills.** Any exception while one record is decoded or processed (engine,
detector, alert manager) sends that record to the dead letters as ``internal error:
<type>: <message>`` and the job goes on. The record may have raised half-way through an
update, so its ``line/station`` key is rebuilt: restored from the key's state at the last
checkpoint and the key's records since then applied again (their outputs, already emitted,
are discarded); the key ends exactly as if the record had never come. That costs nothing
on the happy path but keeping the key's records since the last checkpoint (a list append
of the raw bytes)
and, without a state store, one engine snapshot per checkpoint. More than
``quarantine.max_failures`` such records within ``quarantine.window_records`` records is a
bug, not bad data: the runner checkpoints (so a restart goes on after the failed records,
which are dead letters) and raises :class:`QuarantineExceeded`.

**File sinks.** A checkpoint records the byte length of every sink that can tell it
(``durable_length``, the JSONL sinks); a resume truncates them back to it, so the lines
written between a checkpoint's flush and its save are not duplicated when their records
are processed again.
"""

from __future__ import annotations

import gc
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from linewatch.pipeline.checkpoint import Checkpoint, LocalStateStore
from linewatch.pipeline.decode import dead_letter, decode
from linewatch.pipeline.engine import Engine, RecordRejected
from linewatch.pipeline.models import (
    Alert,
    BackpressureError,
    ChartPoint,
    DeadLetter,
    KeyedSource,
    Kpi,
    ModelScore,
    Output,
    RawRecord,
    Sink,
    Source,
    WireRecord,
)

__all__ = [
    "ColumnBatches",
    "PollBatches",
    "QuarantineExceeded",
    "Route",
    "RunObserver",
    "RunSummary",
    "Runner",
    "UnknownOutput",
    "output_kind",
    "output_kinds",
    "register_output_kind",
    "sink_lengths",
]

log = logging.getLogger(__name__)


class QuarantineExceeded(RuntimeError):
    """Too many records raised while being processed: a bug, not bad data."""


class UnknownOutput(TypeError):
    """An output type no route knows: a programming error, found at start or first emit."""


#: Output type -> the kind a sink route selects; ``records`` (raw records) is the other kind.
_OUTPUT_KINDS: dict[type, str] = {
    Alert: "alerts",
    ChartPoint: "points",
    Kpi: "kpis",
    ModelScore: "model_scores",
    DeadLetter: "dead_letters",
}
RECORDS = "records"


def register_output_kind(output_type: type, kind: str) -> None:
    """Route outputs of ``output_type`` to the sinks that select ``kind``."""
    known = _OUTPUT_KINDS.get(output_type)
    if known is not None and known != kind:
        raise ValueError(f"{output_type.__name__} is already routed as {known!r}")
    _OUTPUT_KINDS[output_type] = kind


def output_kinds() -> frozenset[str]:
    """Every kind a route may select."""
    return frozenset({*_OUTPUT_KINDS.values(), RECORDS})


def output_kind(item: Output) -> str:
    """``alerts``, ``points``, ``kpis``, ``dead_letters``...: what a sink route selects.

    (Valid raw records go to the routes that select ``records``.) An output of a type no
    one registered is an :class:`UnknownOutput`, never silently a dead letter.

    >>> output_kind(object())  # type: ignore[arg-type]
    Traceback (most recent call last):
    ...
    linewatch.pipeline.runner.UnknownOutput: no route kind for output type 'object'; register it with register_output_kind (known: Alert, ChartPoint, Kpi, ModelScore, DeadLetter)
    """
    kind = _OUTPUT_KINDS.get(type(item))
    if kind is None:
        known = ", ".join(t.__name__ for t in _OUTPUT_KINDS)
        raise UnknownOutput(
            f"no route kind for output type {type(item).__name__!r}; register it with "
            f"register_output_kind (known: {known})"
        )
    return kind


class RunObserver(Protocol):
    """Told of the rare events a batch counter cannot see (``pipeline/metrics.py``)."""

    def dead_letter(self, letter: DeadLetter) -> None: ...

    def backpressure(self, sink: Sink) -> None: ...

    def checkpointed(self) -> None: ...


class ColumnBatches(Protocol):
    """Processes the runner's source a batch of columns at a time (columnar_replay.py)."""

    def serves(self, source: Source) -> bool: ...

    def run_batch(self, runner: Runner) -> int: ...


class PollBatches(Protocol):
    """Processes one poll batch as the runner would record by record (poll_lane.py)."""

    def run_batch(self, runner: Runner, batch: list[RawRecord]) -> None: ...


@dataclass(frozen=True, slots=True)
class Route:
    """A sink and the kinds of output it takes."""

    sink: Sink
    kinds: frozenset[str]
    name: str = ""


@dataclass(slots=True)
class RunSummary:
    """What a run did, for the CLI and the report."""

    records_read: int = 0
    records_processed: int = 0
    dead_letters: int = 0
    outputs: Counter[str] = field(default_factory=Counter)
    alerts: list[Alert] = field(default_factory=list)
    dead_letter_reasons: list[str] = field(default_factory=list)
    checkpoints: int = 0
    records_skipped: int = 0
    rebalances: int = 0
    keys_restored: int = 0
    backpressure_waits: int = 0
    seconds: float = 0.0
    stopped_by_request: bool = False
    internal_errors: int = 0


class Runner:
    """Runs one job until its source is exhausted or :meth:`request_stop` is called."""

    def __init__(
        self,
        engine: Engine,
        source: Source,
        routes: Sequence[Route],
        dead_letters: Sink,
        *,
        state_store: LocalStateStore | None = None,
        checkpoint_every_records: int = 50_000,
        checkpoint_every_seconds: float = 5.0,
        poll_timeout: float = 0.5,
        on_batch: Callable[[RunSummary], None] | None = None,
        keep_dead_letter_reasons: int = 1000,
        max_failures: int = 100,
        failure_window_records: int = 10_000,
        input_identity: dict[str, Any] | None = None,
    ) -> None:
        self.engine = engine
        self.source = source
        self.routes = list(routes)
        self.dead_letters = dead_letters
        self.state_store = state_store
        # A source whose per-key state moves between workers (Kafka) keeps its own
        # bookkeeping; the runner only asks it, per record, whether to apply it.
        self._should_apply: Callable[[str, RawRecord], bool] | None = None
        if isinstance(source, KeyedSource):
            source.attach(_KeyHost(self))
            self._should_apply = source.should_apply
        self.checkpoint_every_records = checkpoint_every_records
        self.checkpoint_every_seconds = checkpoint_every_seconds
        self.poll_timeout = poll_timeout
        self.on_batch = on_batch
        self.keep_dead_letter_reasons = keep_dead_letter_reasons
        self.summary = RunSummary()
        self.max_failures = max_failures
        self.failure_window_records = failure_window_records
        self.input_identity = input_identity or {}
        #: Called between the sinks' flush and the state save of a checkpoint (tests).
        self.after_flush: Callable[[], None] | None = None
        # Records a source handled beside its batch (a line stage's): they call for
        # checkpoints too, or a worker whose own input is idle would never flush them.
        self._side_records: Callable[[], int] | None = getattr(source, "take_side_records", None)
        #: Told of every record the engine processed (the line stage's forwarder).
        self.forward: Callable[[RawRecord, WireRecord], None] | None = None
        #: Metrics: dead letters, sink backpressure, checkpoints (never per good record).
        self.observer: RunObserver | None = None
        #: Reads and processes the source a columnar batch at a time, when it serves the
        #: source (a Parquet replay: pipeline/columnar_replay.py); set by ``build_job``.
        self.columnar: ColumnBatches | None = None
        #: Processes each poll batch, laning the keys it can (pipeline/poll_lane.py);
        #: ``None`` handles every record alone (``--per-record``). Set by ``build_job``.
        self.poll_lane: PollBatches | None = None
        # Poison pills: per key its state at the last checkpoint and its records since.
        self._base: dict[str, Any] = {}
        # Raw bytes where the record came as bytes (not tracked by the garbage collector:
        # tens of thousands of live records would slow every full collection down).
        self._since_base: dict[str, list[bytes | WireRecord]] = {}
        self._saved: dict[str, Any] | None = None  # each key's state, while it is current
        self._handled = 0
        self._failures: deque[int] = deque()
        self._quarantine_message: str | None = None
        self._stop_requested = False
        self._routes_by_kind: dict[str, list[Sink]] = {}
        known = output_kinds()
        for route in self.routes:
            for kind in route.kinds:
                if kind not in known:
                    raise UnknownOutput(
                        f"{route.name or 'a route'} selects output kind {kind!r}, which no "
                        f"output has; known: {', '.join(sorted(known))}"
                    )
                self._routes_by_kind.setdefault(kind, []).append(route.sink)
        # Sinks that keep the raw records too (InfluxDB, so that history can be replayed).
        self._record_sinks = self._routes_by_kind.get("records", [])
        # Chart points no route takes are counted, not built (see Engine.points_wanted).
        engine.points_wanted = "points" in self._routes_by_kind

    def request_stop(self) -> None:
        """Finish the current batch, checkpoint, and return from :meth:`run`."""
        self._stop_requested = True
        self.summary.stopped_by_request = True

    def restore(self, checkpoint: Checkpoint) -> None:
        """Resume from a checkpoint: state comes in explicitly, before the first poll."""
        self.engine.restore(checkpoint.engine)
        self._base = dict(checkpoint.engine["keys"])

    def run(self) -> RunSummary:
        started = time.monotonic()
        since_checkpoint = 0
        last_checkpoint = started
        # Everything built so far (config, detectors, modules) lives for the whole run:
        # out of the collector's sight, a full collection scans only what the run makes.
        gc.collect()
        gc.freeze()
        columnar = self.columnar
        if columnar is not None and not columnar.serves(self.source):
            columnar = None
        try:
            while not self._stop_requested:
                if columnar is not None:
                    read = columnar.run_batch(self)
                else:
                    batch = self.source.poll(self.poll_timeout)
                    if self.poll_lane is not None:
                        self.poll_lane.run_batch(self, batch)
                    else:
                        for raw in batch:
                            self._handle(raw)
                    read = len(batch)
                self._count_unbuilt_points()
                if self._quarantine_message is not None:
                    self.checkpoint()  # a restart goes on after the failed records
                    raise QuarantineExceeded(self._quarantine_message)
                since_checkpoint += read + (self._side_records() if self._side_records else 0)
                self.summary.records_read += read
                if self.on_batch is not None:
                    self.on_batch(self.summary)
                now = time.monotonic()
                if since_checkpoint >= self.checkpoint_every_records or (
                    since_checkpoint and now - last_checkpoint >= self.checkpoint_every_seconds
                ):
                    self.checkpoint()
                    since_checkpoint, last_checkpoint = 0, time.monotonic()
                if not read and self.source.exhausted:
                    break
            self.checkpoint()
        finally:
            gc.unfreeze()
            self._count_unbuilt_points()
            self.summary.seconds = time.monotonic() - started
        return self.summary

    def _count_unbuilt_points(self) -> None:
        unbuilt = self.engine.points_not_built
        if unbuilt:
            self.summary.outputs["points"] += unbuilt
            self.engine.points_not_built = 0

    def _handle(self, raw: RawRecord, decoded: WireRecord | None = None) -> None:
        """One record; ``decoded`` is its record if a batch decode already made it."""
        self._handled += 1
        record: WireRecord | DeadLetter
        if decoded is not None:
            record = decoded
        else:
            try:
                record = decode(raw)
            except MemoryError:
                raise
            except Exception as exc:  # decode promises none escapes; a bug is quarantined
                self._poisoned(raw, exc, None)
                return
        if isinstance(record, DeadLetter):
            self._dead(record)
            return
        key = record.stream_key
        if self._should_apply is not None and not self._should_apply(key, raw):
            self.summary.records_skipped += 1  # its effect is already in the state
            return
        since = self._since_base.get(key)
        if since is None:
            since = self._since_base[key] = []
        payload = raw.payload
        since.append(payload if type(payload) is bytes else record)
        engine = self.engine
        unbuilt = engine.points_not_built  # a refused record's points do not count
        try:
            outputs = engine.process(record)
        except RecordRejected as exc:
            engine.points_not_built = unbuilt
            self._dead(dead_letter(raw, str(exc)))
            return
        except MemoryError:
            raise
        except Exception as exc:
            engine.points_not_built = unbuilt
            since.pop()
            self._poisoned(raw, exc, key)
            return
        self.summary.records_processed += 1
        for sink in self._record_sinks:
            sink.add(record)
        if self.forward is not None:
            self.forward(raw, record)
        self._emit(outputs)

    def emit(self, outputs: Iterable[Output]) -> None:
        """Send outputs made outside the engine (the line stage's) to their routes."""
        self._emit(outputs)

    def _emit(self, outputs: Iterable[Output]) -> None:
        for item in outputs:
            kind = output_kind(item)
            self.summary.outputs[kind] += 1
            if isinstance(item, Alert):
                self.summary.alerts.append(item)
            for sink in self._routes_by_kind.get(kind, ()):
                sink.add(item)

    def _poisoned(self, raw: RawRecord, exc: Exception, key: str | None) -> None:
        """A record whose processing raised: dead letter it and rebuild its key's state."""
        what = f"{type(exc).__name__}: {exc}".replace("\n", " ")
        log.warning("%s: internal error: %s", raw.origin, what, exc_info=exc)
        self.summary.internal_errors += 1
        self._dead(dead_letter(raw, f"internal error: {what}"))
        if key is not None:
            self.rebuild_key(key)
            self._since_base.pop(key, None)
            self._base[key] = self.engine.snapshot_key(key)
        failures = self._failures
        failures.append(self._handled)
        while failures and failures[0] <= self._handled - self.failure_window_records:
            failures.popleft()
        if len(failures) > self.max_failures and self._quarantine_message is None:
            self._quarantine_message = (
                f"stopped: {len(failures)} records raised internal errors within "
                f"{self.failure_window_records} records (quarantine.max_failures is "
                f"{self.max_failures}); this is a bug, not bad data; the last, at "
                f"{raw.origin}: {what}; the failed records are in the dead letters"
            )

    def rebuild_key(self, key: str) -> None:
        """Put ``key`` back to its state after its records since the last base (a poison
        pill, a batch lane that failed part-way); the base and those records stay."""
        records = [
            item if not isinstance(item, bytes) else _decode_again(item)
            for item in self._since_base.get(key, [])
        ]
        try:
            self.engine.rebuild_key(key, self._base.get(key), records)
        except Exception as again:  # pragma: no cover - a rebuild replays good records
            log.error("%s: cannot rebuild its state (%s); starting it afresh", key, again)
            self.engine.drop_key(key)
            self._base.pop(key, None)
            self._since_base.pop(key, None)

    def _dead(self, letter: DeadLetter) -> None:
        self.summary.dead_letters += 1
        if len(self.summary.dead_letter_reasons) < self.keep_dead_letter_reasons:
            self.summary.dead_letter_reasons.append(letter.reason)
        self.dead_letters.add(letter)
        if self.observer is not None:
            self.observer.dead_letter(letter)

    def checkpoint(self) -> None:
        """Flush every sink, save state with the source position, then commit the source."""
        self.flush_sinks()
        if self.after_flush is not None:
            self.after_flush()
        if self.state_store is not None:
            self.save_state()
        else:
            self._base = self.engine.snapshot()["keys"]
        self._since_base.clear()
        # No record is processed until the commit returns: a keyed source's changelog
        # takes each key's state just saved (_KeyHost.snapshot_key), not a second snapshot.
        self._saved = self._base
        try:
            self.source.commit()
        finally:
            self._saved = None
        self.summary.checkpoints += 1
        if self.observer is not None:
            self.observer.checkpointed()

    def save_state(self) -> None:
        """Save a checkpoint of the current state and position, without flush or commit."""
        if self.state_store is None:
            return
        sinks = [*(route.sink for route in self.routes), self.dead_letters]
        engine_state = self.engine.snapshot()
        self.state_store.save(
            Checkpoint(
                source=self.source.snapshot(),
                engine=engine_state,
                input=self.input_identity,
                sinks=sink_lengths(sinks),
            )
        )
        self._base = engine_state["keys"]

    def flush_sinks(self) -> None:
        """Flush every sink, the dead letters too (retrying while one pushes back)."""
        for sink in [*(route.sink for route in self.routes), self.dead_letters]:
            self._flush(sink)

    def _flush(self, sink: Sink) -> None:
        while True:
            try:
                sink.flush()
                return
            except BackpressureError as exc:
                self.summary.backpressure_waits += 1
                if self.observer is not None:
                    self.observer.backpressure(sink)
                log.warning(
                    "sink %r pushes back (%s); retrying in %.3g s", sink, exc, exc.retry_after
                )
                time.sleep(exc.retry_after)

    def close(self) -> None:
        self.source.close()  # first: a keyed source's last revoke still flushes the sinks
        for sink in [*(route.sink for route in self.routes), self.dead_letters]:
            sink.close()


class _KeyHost:
    """The runner's per-key state, as a keyed source sees it (rebalances)."""

    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    def revoking(self) -> None:
        self._runner.flush_sinks()
        self._runner.summary.rebalances += 1

    def snapshot_key(self, key: str) -> Any:
        saved = self._runner._saved
        if saved is not None and key in saved:
            return saved[key]
        return self._runner.engine.snapshot_key(key)

    def restore_key(self, key: str, state: Any) -> None:
        runner = self._runner
        runner.engine.restore_key(key, state)
        runner._base[key] = state
        runner._since_base.pop(key, None)
        runner.summary.keys_restored += 1

    def drop_key(self, key: str) -> None:
        runner = self._runner
        runner.engine.drop_key(key)
        runner._base.pop(key, None)
        runner._since_base.pop(key, None)


def sink_lengths(sinks: Iterable[Sink]) -> dict[str, int]:
    """Durable byte length of every sink that can tell it, by its path."""
    lengths: dict[str, int] = {}
    for sink in sinks:
        measure = getattr(sink, "durable_length", None)
        if measure is not None:
            lengths[str(sink.path)] = int(measure())  # type: ignore[attr-defined]
    return lengths


def _decode_again(payload: bytes) -> WireRecord:
    """A record kept as raw bytes for a rebuild (it decoded before, so it does again)."""
    record = decode(RawRecord(payload=payload, origin="rebuild"))
    assert not isinstance(record, DeadLetter)
    return record
