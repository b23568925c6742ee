"""Real servers on 127.0.0.1 for tests, shipped so a plant's own tests can use them.

:class:`ServerProcess` is the base (free ports, readiness, log, SIGTERM then SIGKILL);
Kafka, three InfluxDB-compatible kinds and Alertmanager are built on it. With
``pytest`` the ``linewatch`` plugin (:mod:`linewatch.connectors.testing.plugin`,
registered as a ``pytest11`` entry point) gives session fixtures for each of them.
Standard library only: importing this package starts nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from linewatch.connectors.testing.alertmanager import AlertmanagerServer
    from linewatch.connectors.testing.influxdb import (
        Influx1Server,
        Influx11Server,
        InfluxServer,
        VictoriaMetricsServer,
    )
    from linewatch.connectors.testing.kafka import KafkaBroker
    from linewatch.connectors.testing.servers import (
        HttpServerProcess,
        ServerError,
        ServerProcess,
        free_port,
    )
    from linewatch.connectors.testing.webhook import WebhookReceiver

# Lazy, so that `python -m linewatch.connectors.testing.kafka probe` (scripts/kafka.sh)
# runs the module once, not after the package imported it.
_HOMES = {
    "AlertmanagerServer": "alertmanager",
    "HttpServerProcess": "servers",
    "Influx1Server": "influxdb",
    "Influx11Server": "influxdb",
    "InfluxServer": "influxdb",
    "KafkaBroker": "kafka",
    "ServerError": "servers",
    "ServerProcess": "servers",
    "VictoriaMetricsServer": "influxdb",
    "WebhookReceiver": "webhook",
    "free_port": "servers",
}

__all__ = [
    "AlertmanagerServer",
    "HttpServerProcess",
    "Influx1Server",
    "Influx11Server",
    "InfluxServer",
    "KafkaBroker",
    "ServerError",
    "ServerProcess",
    "VictoriaMetricsServer",
    "WebhookReceiver",
    "free_port",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_HOMES[name]}")
    return getattr(module, name)
