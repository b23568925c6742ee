"""Where a job's records come from: the source plugins (file, simulator, Kafka, InfluxDB),
the replay-only readers (InfluxDB and Kafka by time), and the simulator's records.

Registering the plugins is a side effect of importing this module, which
:mod:`linewatch.pipeline.job` does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from linewatch.connectors.files import FileSource
from linewatch.connectors.memory import IterableSource
from linewatch.connectors.simulator import (
    Simulation,
    fault_windows,
    parse_fault,
    simulate,
    validate_faults,
)
from linewatch.pipeline.checkpoint import RESET_HINT
from linewatch.pipeline.config import (
    Config,
    FileSourceConfig,
    InfluxSourceConfig,
    KafkaSourceConfig,
    KafkaStateConfig,
    SimulatorSourceConfig,
)
from linewatch.pipeline.engine import Engine
from linewatch.pipeline.models import Source, WireRecord
from linewatch.pipeline.plugins import SourceContext, register_source, source_plugin

__all__ = [
    "JobError",
    "build_source",
    "from_kafka",
    "influx_source",
    "kafka_replay_source",
    "simulated_records",
    "two_stage_source",
]


class JobError(RuntimeError):
    """A job that cannot start (no source, unreadable input, bad fault spec...)."""


def simulated_records(
    simulation: Simulation,
    minutes: float,
    faults: Sequence[str] | None = None,
    seed: int | None = None,
    start: datetime | None = None,
) -> tuple[Iterator[WireRecord], list[dict[str, Any]]]:
    """The simulator's records and the ground truth of the faults injected in them.

    ``faults`` (fault texts), ``seed`` and ``start`` replace the simulation's own.
    """
    try:
        parsed = list(simulation.faults) if faults is None else [parse_fault(t) for t in faults]
        validate_faults(simulation, parsed)
    except ValueError as exc:
        raise JobError(f"bad fault: {exc}") from exc
    begin = start or simulation.start
    records = simulate(
        simulation, begin, minutes, parsed, seed=simulation.seed if seed is None else seed
    )
    return records, fault_windows(parsed, begin)


def influx_source(
    url: str,
    start: datetime,
    stop: datetime,
    page_size: int = 5000,
    batch_size: int = 1000,
    resume: dict[str, Any] | None = None,
) -> Source:
    """Records of ``[start, stop)`` read back from InfluxDB (``replay --from influx://``)."""
    from linewatch.connectors.influxdb import InfluxSource, InfluxSourceError

    try:
        return InfluxSource.from_url(
            url, start, stop, page_size=page_size, batch_size=batch_size, resume=resume
        )
    except (InfluxSourceError, ValueError) as exc:
        raise JobError(f"InfluxDB source: {exc}") from exc


def kafka_replay_source(url: str, start: datetime, stop: datetime) -> Source:
    """Records of ``[start, stop)`` by Kafka timestamp, read outside any consumer group.

    ``kafka://HOST:PORT/TOPIC[,TOPIC2][?transport=kafka-python]`` (``replay --from``).
    """
    from linewatch.connectors.kafka.clients import check_transport
    from linewatch.connectors.kafka.replay import KafkaReplayError, KafkaReplaySource
    from linewatch.connectors.kafka.urls import parse_kafka_url, split_transport

    try:
        base, transport = split_transport(url)
        bootstrap, topics = parse_kafka_url(base)
        return KafkaReplaySource(
            bootstrap,
            topics.split(","),
            start,
            stop,
            transport=check_transport(transport or "confluent"),
        )
    except (KafkaReplayError, ValueError) as exc:
        raise JobError(f"Kafka replay source: {exc}") from exc


def _kafka_source(
    source: KafkaSourceConfig, state: KafkaStateConfig | None, resume: dict[str, Any] | None
) -> Source:
    """The Kafka source, with its changelog when the state moves between workers."""
    from linewatch.connectors.kafka import KafkaSource, KafkaStateStore, partition_counts

    counts = partition_counts(source.bootstrap, source.topics, transport=source.transport)
    if len(set(counts.values())) > 1:
        raise JobError(
            f"source.topics must have the same number of partitions (co-partitioned "
            f"by line/station), got {counts}"
        )
    partitions = next(iter(counts.values()))
    changelog = None
    if state is not None:
        changelog = KafkaStateStore(state.bootstrap, state.topic, transport=state.transport)
        changelog.ensure_topic(partitions)
        found = partition_counts(state.bootstrap, [state.topic], transport=state.transport)
        if found[state.topic] != partitions:
            raise JobError(
                f"checkpoint.changelog: topic {state.topic!r} has {found[state.topic]} "
                f"partitions, the input topics {partitions}; state is kept per input partition"
            )
    try:
        return KafkaSource(
            source.bootstrap,
            source.topics,
            source.group_id,
            batch_size=source.batch_size,
            max_batch_wait_ms=source.max_batch_wait_ms,
            idle_exit_s=source.idle_exit_s,
            changelog=changelog,
            resume=resume,
            consumer_config=source.consumer,
            transport=source.transport,
        )
    except ValueError as exc:  # a resume state that is not the source's
        raise JobError(f"checkpoint: {exc}; {RESET_HINT}") from None


def two_stage_source(
    config: Config,
    engine: Engine,
    inputs: Source,
    resume: dict[str, Any] | None,
    mode: Literal["run", "replay"],
) -> tuple[Source, Any]:
    """The input and the line stage's consumer as one source; stage 1 without predictors."""
    from linewatch.connectors.kafka import KafkaSource
    from linewatch.pipeline.modelling import ModelRuntime
    from linewatch.pipeline.repartition import two_stage

    assert isinstance(inputs, KafkaSource)
    try:
        source, forwarder = two_stage(config, inputs, resume, mode)
    except ValueError as exc:
        raise JobError(str(exc)) from None
    engine.models = ModelRuntime(config, engine.alerts, predictors="none")
    return source, forwarder


def from_kafka(config: Config, input_path: Path | None, override: Source | None) -> bool:
    return override is None and input_path is None and isinstance(config.source, KafkaSourceConfig)


def build_source(
    config: Config,
    input_path: Path | None,
    resume: dict[str, Any] | None,
    source_override: Source | None,
    mode: Literal["run", "replay"],
) -> Source:
    """The job's source, built with its own resume state (``resume``: None, from the start)."""
    if (
        mode == "run"
        and config.checkpoint.changelog is not None
        and not from_kafka(config, input_path, source_override)
    ):
        raise JobError("checkpoint.changelog needs a kafka source")
    if source_override is not None:
        return source_override
    if input_path is not None:
        return FileSource(input_path, resume=resume)
    source = config.source
    if source is None:
        raise JobError("the config has no 'source' and no input file was given")
    return source_plugin(source.type).build(source, SourceContext(config, resume, mode))


def _file_source(source: FileSourceConfig, context: SourceContext) -> Source:
    return FileSource(
        source.path,
        format=source.format,
        batch_size=source.batch_size,
        resume=context.resume,
    )


def _simulator_source(source: SimulatorSourceConfig, context: SourceContext) -> Source:
    assert context.config.simulation is not None  # the config validator guarantees it
    records, _ = simulated_records(context.config.simulation, source.minutes)
    return IterableSource(
        records, name="simulator", batch_size=source.batch_size, resume=context.resume
    )


def _influx_source(source: InfluxSourceConfig, context: SourceContext) -> Source:
    return influx_source(
        source.url,
        source.start,
        source.stop,
        source.page_size,
        source.batch_size,
        context.resume,
    )


def _kafka_source_plugin(source: KafkaSourceConfig, context: SourceContext) -> Source:
    changelog = context.config.checkpoint.changelog if context.mode == "run" else None
    return _kafka_source(source, changelog, context.resume)


register_source("file", FileSourceConfig, _file_source)
register_source("simulator", SimulatorSourceConfig, _simulator_source)
register_source("kafka", KafkaSourceConfig, _kafka_source_plugin)
register_source("influx", InfluxSourceConfig, _influx_source)
