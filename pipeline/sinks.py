"""The built-in sinks' builders, registered by config ``type`` (see :mod:`.plugins`).

Connectors are imported when a sink is built, so that validating a config stays cheap.
"""

from __future__ import annotations

from linewatch.pipeline.config import (
    ConsoleSinkConfig,
    InfluxSinkConfig,
    JsonlSinkConfig,
    KafkaSinkConfig,
)
from linewatch.pipeline.models import Sink, SinkError
from linewatch.pipeline.plugins import SinkContext, register_sink

__all__ = ["SinkBuildError"]


class SinkBuildError(RuntimeError):
    """A sink that cannot be built from its config (the job reports it, one line)."""


def _jsonl(config: JsonlSinkConfig, context: SinkContext) -> Sink:
    from linewatch.connectors.files import JsonlSink

    return JsonlSink(context.place(config.path), append=context.append)


def _console(config: ConsoleSinkConfig, context: SinkContext) -> Sink:
    from linewatch.connectors.console import ConsoleSink

    return context.console or ConsoleSink("live" if context.mode == "run" else "table")


def _influx(config: InfluxSinkConfig, context: SinkContext) -> Sink:
    from linewatch.connectors.influxdb import InfluxSink

    try:
        return InfluxSink.from_url(
            config.url,
            batch_size=config.batch_size,
            spool_dir=config.spool_dir,
            spool_max_bytes=int(config.spool_max_mb * 1024 * 1024),
            retry_for_s=config.retry_for_s,
        )
    except (SinkError, ValueError) as exc:
        raise SinkBuildError(f"InfluxDB sink: {exc}") from exc


def _kafka(config: KafkaSinkConfig, context: SinkContext) -> Sink:
    from linewatch.connectors.kafka import KafkaAlertSink

    return KafkaAlertSink(
        config.bootstrap,
        config.alerts_topic,
        config.points_topic,
        config.producer,
        transport=config.transport,
    )


register_sink("jsonl", JsonlSinkConfig, _jsonl)
register_sink("console", ConsoleSinkConfig, _console)
register_sink("kafka", KafkaSinkConfig, _kafka)
register_sink("influx", InfluxSinkConfig, _influx)
