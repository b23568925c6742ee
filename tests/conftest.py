"""Servers for the integration tests: the session starts them and stops them itself.

No test skips for want of a server: `make test` fetches the Kafka jars and installs
InfluxDB first, and these fixtures fail loudly if a server cannot start.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.kafka import KafkaBroker


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """One real KRaft broker on 127.0.0.1 for the whole session."""
    broker = KafkaBroker(data_dir=tmp_path_factory.mktemp("kafka"), config={"num.partitions": 3})
    broker.start()
    try:
        yield broker
    finally:
        broker.close()


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A topic/group prefix of this test's own."""
    return "t-" + "".join(c if c.isalnum() else "-" for c in request.node.name)[:60]


def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


# -- InfluxDB ------------------------------------------------------------------------------
# Each starts in well under a second; `scripts/influxdb.sh install` provides the binaries.

from tests.servers.influxdb import Influx1Server, Influx11Server  # noqa: E402

INFLUX_AUTH = ("linewatch", "s3cr@t/x")  # needs %-escaping in an influx:// URL


@pytest.fixture(scope="session")
def influx1_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Influx1Server]:
    """Debian's InfluxDB 1.6.7 (v1 API only) on 127.0.0.1, auth off."""
    with Influx1Server(tmp_path_factory.mktemp("influx1")) as server:
        yield server


@pytest.fixture(scope="session")
def influx11_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Influx11Server]:
    """InfluxDB 1.11.8 (v1 API and the v2 compatibility API) on 127.0.0.1, auth off."""
    with Influx11Server(tmp_path_factory.mktemp("influx11")) as server:
        yield server


@pytest.fixture(scope="session")
def influx1_auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Influx1Server]:
    """InfluxDB 1.6.7 with auth on; admin ``INFLUX_AUTH``."""
    with Influx1Server(tmp_path_factory.mktemp("influx1-auth"), auth=INFLUX_AUTH) as server:
        yield server


@pytest.fixture(scope="session")
def influx11_auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Influx11Server]:
    """InfluxDB 1.11.8 with auth on; admin ``INFLUX_AUTH`` (v2 token ``user:password``)."""
    with Influx11Server(tmp_path_factory.mktemp("influx11-auth"), auth=INFLUX_AUTH) as server:
        yield server
