"""Two stages for the defect predictor when several workers share the Kafka input.

The input's key is ``line/station``, so a line's stations may sit in partitions owned by
different workers, and the predictor joins two of them. So a Kafka job with a defect
predictor runs in two stages, in every worker (see the README, "Repartitioning for the
defect predictor"):

1. the normal pipeline (all but the defect predictors). :class:`LineForwarder`, a sink
   flushed at every checkpoint before the input's commit, forwards the records a predictor
   reads (its station's parameters, its target station's inspections) to the internal
   topic ``<group>-line-repartition`` keyed by line, original bytes plus origin headers;
   at each flush it sends, per input partition it processed, a watermark (its newest
   event time minus the grace) to every repartition partition;
2. :class:`LineStage`, a second consumer (group ``<group>-line``) on that topic: per
   assigned partition a :class:`~linewatch.pipeline.reorder.ReorderBuffer` releases the
   records in the canonical order below the least watermark of all input partitions, and
   the line's predictors (a :class:`ModelRuntime` with ``predictors="only"``) run on them.
   Their scores, KPIs and alerts go to the job's sinks. State per repartition partition
   (buffer, predictors, their firing alerts) is plain data, in the stage's changelog
   (``<changelog topic>-line``) or in the local checkpoint, with the applied offsets.

:class:`TwoStageSource` polls both consumers for the runner and commits both after the
sinks flushed (stage 1 first: its forwarded records are acknowledged by then).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from linewatch.connectors.kafka.repartition import (
    Forwarded,
    RepartitionProducer,
    Watermark,
    parse_repartitioned,
)
from linewatch.connectors.kafka.source import KafkaSource
from linewatch.pipeline.alerts import AlertManager
from linewatch.pipeline.config import Config, KafkaSourceConfig
from linewatch.pipeline.decode import decode
from linewatch.pipeline.modelling import ModelRuntime
from linewatch.pipeline.models import (
    DeadLetter,
    KeyedStateHost,
    Output,
    PartitionOffset,
    RawRecord,
    WireRecord,
)
from linewatch.pipeline.reorder import Buffered, ReorderBuffer

__all__ = [
    "LineForwarder",
    "LineStage",
    "TwoStageSource",
    "epoch_us",
    "line_group",
    "repartition_topic",
    "two_stage",
]

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_KEY_PREFIX = "repartition/"  # the stage's state key per partition: repartition/<n>


def epoch_us(moment: datetime) -> int:
    """Whole microseconds since the epoch (exact for aware datetimes).

    >>> epoch_us(datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=UTC))
    1000005
    """
    return (moment - _EPOCH) // timedelta(microseconds=1)


def repartition_topic(group_id: str) -> str:
    return f"{group_id}-line-repartition"


def line_group(group_id: str) -> str:
    return f"{group_id}-line"


class LineForwarder:
    """Stage 1's sink to the repartition topic (a route with no output kinds)."""

    def __init__(self, models: ModelRuntime, producer: RepartitionProducer, grace_s: float) -> None:
        self.models = models
        self.producer = producer
        self.grace_us = int(grace_s * 1_000_000)
        self._newest: dict[tuple[str, int], int] = {}  # input partition -> newest ts (us)
        self._sent: dict[tuple[str, int], int] = {}  # input partition -> last watermark sent
        self.forwarded = 0

    def on_record(self, raw: RawRecord, record: WireRecord) -> None:
        """A record the engine processed: note its time, forward it if a predictor reads it."""
        position = raw.position
        if not isinstance(position, PartitionOffset):
            return
        ts_us = epoch_us(record.ts)
        origin = (position.topic, position.partition)
        if ts_us > self._newest.get(origin, ts_us - 1):
            self._newest[origin] = ts_us
        if isinstance(raw.payload, bytes) and self.models.feeds_predictor(record):
            self.producer.forward(record.line, raw.payload, position, ts_us)
            self.forwarded += 1

    def add(self, item: object) -> None:
        """Routes give it nothing (it has no output kinds); records come via on_record."""

    def flush(self) -> None:
        """Queue the watermarks that moved, after the data before them; wait for the acks."""
        for origin, newest in sorted(self._newest.items()):
            watermark = newest - self.grace_us
            if self._sent.get(origin) != watermark:
                self.producer.advance(origin[0], origin[1], watermark)
                self._sent[origin] = watermark
        self.producer.flush()

    def close(self) -> None:
        self.producer.close()


class LineStage:
    """Stage 2: the defect predictors per line, fed in canonical order (module text)."""

    def __init__(
        self,
        config: Config,
        source: KafkaSource,
        origins: Sequence[tuple[str, int]],
        resume: Mapping[str, Any] | None = None,
    ) -> None:
        self.models = ModelRuntime(config, AlertManager(config.alerting), predictors="only")
        self.source = source
        self.origins = list(origins)
        self._buffers: dict[int, ReorderBuffer] = {}
        self._lines: dict[int, set[str]] = {}  # repartition partition -> its lines seen
        self.emit: Callable[[list[Output]], None] = lambda outputs: None
        self.flush_sinks: Callable[[], None] = lambda: None
        self.released = 0
        self.failed = 0
        source.attach(self)
        for key, state in sorted((resume or {}).items()):
            self.restore_key(key, state)

    def bind(self, emit: Callable[[list[Output]], None], flush_sinks: Callable[[], None]) -> None:
        """Where outputs go and how the sinks flush (the runner's, once it exists)."""
        self.emit = emit
        self.flush_sinks = flush_sinks

    # -- processing ----------------------------------------------------------------------

    def pump(self, timeout: float) -> int:
        """Poll the repartition topic once, release and apply what the watermarks allow;
        returns the number of messages polled."""
        touched: set[int] = set()
        batch = self.source.poll(timeout)
        for raw in batch:
            position = raw.position
            if not isinstance(position, PartitionOffset):
                continue
            key = f"{_KEY_PREFIX}{position.partition}"
            if not self.source.should_apply(key, raw):
                continue
            message = parse_repartitioned(raw)
            buffer = self._buffer(position.partition)
            if isinstance(message, Watermark):
                buffer.advance(message.topic, message.partition, message.ts_us)
            elif isinstance(message, Forwarded):
                self._lines.setdefault(position.partition, set()).add(message.key)
                origin = message.origin
                try:
                    text = message.payload.decode()
                except UnicodeDecodeError:  # stage 1 decoded it: never, but not a crash
                    self.failed += 1
                    continue
                late = buffer.late
                buffer.add(origin.topic, origin.partition, origin.offset, message.ts_us, text)
                if buffer.late > late:
                    log.warning(
                        "%s/%s@%s: older than the line stage's released records (the grace "
                        "is exceeded); not given to the defect predictor",
                        origin.topic,
                        origin.partition,
                        origin.offset,
                    )
            touched.add(position.partition)
        for partition in sorted(touched):
            for item in self._buffers[partition].release():
                self._apply(item)
                self.released += 1
        return len(batch)

    def _buffer(self, partition: int) -> ReorderBuffer:
        buffer = self._buffers.get(partition)
        if buffer is None:
            buffer = self._buffers[partition] = ReorderBuffer(self.origins)
        return buffer

    def _apply(self, item: Buffered) -> None:
        origin = f"{item.topic}/{item.partition}@{item.offset}"
        record = decode(RawRecord(payload=item.payload.encode(), origin=origin))
        if isinstance(record, DeadLetter):  # stage 1 took it: a changed config, not data
            self.failed += 1
            return
        try:
            outputs = self.models.observe(record, [])
        except Exception as exc:  # a bug in a model: logged, the stage goes on
            self.failed += 1
            log.warning("%s: line stage: %s: %s", origin, type(exc).__name__, exc)
            return
        if outputs:
            self.emit(outputs)

    def commit(self) -> None:
        self.source.commit()

    # -- KeyedStateHost: the stage's state per repartition partition ---------------------

    def revoking(self) -> None:
        self.flush_sinks()

    def keys(self) -> list[str]:
        return [f"{_KEY_PREFIX}{p}" for p in sorted(self._buffers)]

    def _owners(self, lines: Iterable[str]) -> list[str]:
        wanted, held = set(lines), self.models.keys()
        return [key for key in held if key.partition("/")[0] in wanted]

    def snapshot_key(self, key: str) -> dict[str, Any] | None:
        partition = int(key.removeprefix(_KEY_PREFIX))
        buffer = self._buffers.get(partition)
        if buffer is None:
            return None
        lines = sorted(self._lines.get(partition, ()))
        return {
            "buffer": buffer.to_state(),
            "lines": lines,
            "models": {owner: self.models.snapshot_key(owner) for owner in self._owners(lines)},
            "alerts": self.models.alerts.snapshot(lambda a: a.line in lines),
        }

    def restore_key(self, key: str, state: Any) -> None:
        self.drop_key(key)
        if state is None:
            return
        partition = int(key.removeprefix(_KEY_PREFIX))
        self._buffer(partition).set_state(state["buffer"])
        self._lines[partition] = set(state["lines"])
        for owner, saved in state["models"].items():
            self.models.restore_key(owner, saved)
        self.models.alerts.restore(state["alerts"])

    def drop_key(self, key: str) -> None:
        partition = int(key.removeprefix(_KEY_PREFIX))
        self._buffers.pop(partition, None)
        lines = self._lines.pop(partition, set())
        for owner in self._owners(lines):
            self.models.drop_key(owner)
        self.models.alerts.forget(lambda a: a.line in lines)

    def snapshot(self) -> dict[str, Any]:
        """The stage's consumer position and state, for the local checkpoint."""
        return {
            "source": self.source.snapshot(),
            "keys": {key: self.snapshot_key(key) for key in self.keys()},
        }

    def close(self) -> None:
        self.source.close()


class TwoStageSource:
    """The input consumer and the line stage's, polled and committed together."""

    def __init__(self, inputs: KafkaSource, stage: LineStage) -> None:
        self.inputs = inputs
        self.stage = stage
        self._side = 0  # repartition messages polled since the runner last asked

    def attach(self, host: KeyedStateHost) -> None:
        self.inputs.attach(host)

    def should_apply(self, key: str, raw: RawRecord) -> bool:
        return self.inputs.should_apply(key, raw)

    def poll(self, timeout: float) -> list[RawRecord]:
        batch = self.inputs.poll(timeout)
        self._side += self.stage.pump(0.0 if batch else timeout)
        return batch

    def take_side_records(self) -> int:
        """Messages the line stage polled since the last call (they call for checkpoints)."""
        side, self._side = self._side, 0
        return side

    def commit(self) -> None:
        self.inputs.commit()  # the forwarder flushed before: its records are acknowledged
        self.stage.commit()

    @property
    def exhausted(self) -> bool:
        return self.inputs.exhausted and self.stage.source.exhausted

    def snapshot(self) -> dict[str, Any]:
        return {**self.inputs.snapshot(), "line_stage": self.stage.snapshot()}

    def assignment(self) -> list[tuple[str, int]]:
        return self.inputs.assignment()

    def lag(self) -> dict[tuple[str, int], int]:
        return self.inputs.lag()

    def close(self) -> None:
        self.inputs.close()
        self.stage.close()


def two_stage(
    config: Config,
    inputs: KafkaSource,
    resume: Mapping[str, Any] | None,
    mode: Literal["run", "replay"],
) -> tuple[TwoStageSource, LineForwarder]:
    """The two-stage source and stage 1's forwarder for a Kafka job with a defect predictor.

    Raises ValueError (one line) when the stage's changelog cannot match its topic.
    """
    from linewatch.connectors.kafka import KafkaStateStore, ensure_topics, partition_counts

    source = config.source
    assert isinstance(source, KafkaSourceConfig)
    counts = partition_counts(source.bootstrap, source.topics, transport=source.transport)
    origins = [(topic, p) for topic, n in sorted(counts.items()) for p in range(n)]
    topic = repartition_topic(source.group_id)
    wanted = source.repartition_partitions or max(counts.values())
    ensure_topics(source.bootstrap, {topic: wanted}, transport=source.transport)
    partitions = partition_counts(source.bootstrap, [topic], transport=source.transport)[topic]
    changelog = None
    state = config.checkpoint.changelog if mode == "run" else None
    if state is not None:
        changelog = KafkaStateStore(
            state.bootstrap, f"{state.topic}-line", transport=state.transport
        )
        changelog.ensure_topic(partitions)
        found = partition_counts(state.bootstrap, [changelog.topic], transport=state.transport)
        if found[changelog.topic] != partitions:
            raise ValueError(
                f"the line stage's changelog {changelog.topic!r} has {found[changelog.topic]} "
                f"partitions, the repartition topic {topic!r} {partitions}"
            )
    saved = (resume or {}).get("line_stage") or {}
    consumer = KafkaSource(
        source.bootstrap,
        [topic],
        line_group(source.group_id),
        batch_size=source.batch_size,
        idle_exit_s=source.idle_exit_s,
        changelog=changelog,
        resume=saved.get("source"),
        consumer_config=source.consumer,
        transport=source.transport,
    )
    stage = LineStage(config, consumer, origins, saved.get("keys"))
    producer = RepartitionProducer(source.bootstrap, topic, partitions, transport=source.transport)
    grace = source.repartition_grace_s
    if grace is None:
        grace = config.lateness.allowed_lateness_s
    return TwoStageSource(inputs, stage), LineForwarder(stage.models, producer, grace)
