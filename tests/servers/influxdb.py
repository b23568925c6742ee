"""Kept for old imports: the servers now ship as :mod:`linewatch.connectors.testing.influxdb`."""

from __future__ import annotations

from linewatch.connectors.testing.influxdb import (
    Influx1Server,
    Influx11Server,
    InfluxServer,
    InfluxServerError,
    VictoriaMetricsServer,
    default_cache_dir,
    free_port,
)

__all__ = [
    "Influx1Server",
    "Influx11Server",
    "InfluxServer",
    "InfluxServerError",
    "VictoriaMetricsServer",
    "default_cache_dir",
    "free_port",
]
