"""The ``linewatch`` pytest plugin: real servers on 127.0.0.1 as session fixtures.

Installed with Linewatch as a ``pytest11`` entry point, so a plant's own tests get
these fixtures with no ``conftest.py``; each server starts on first use and stops at
the end of the session. A missing server fails the test with the command that
installs it; nothing is skipped.

* ``kafka_broker`` - :class:`~linewatch.connectors.testing.kafka.KafkaBroker`
  (3 partitions per auto-created topic)
* ``influx1_server``, ``influx1_auth_server`` - InfluxDB 1.6.7, auth off / on
* ``influx11_server``, ``influx11_auth_server`` - InfluxDB 1.11.8, auth off / on
* ``alertmanager_server`` - Alertmanager whose webhook receiver is
  ``alertmanager_webhook``, an HTTP receiver on 127.0.0.1 that keeps each body
* ``unique_name`` - a topic/group/database prefix of the test's own

The auth variants use ``INFLUX_AUTH`` as admin user and password.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from linewatch.connectors.testing.alertmanager import AlertmanagerServer
from linewatch.connectors.testing.influxdb import Influx1Server, Influx11Server
from linewatch.connectors.testing.kafka import KafkaBroker
from linewatch.connectors.testing.webhook import WebhookReceiver

__all__ = [
    "INFLUX_AUTH",
    "alertmanager_server",
    "alertmanager_webhook",
    "influx1_auth_server",
    "influx1_server",
    "influx11_auth_server",
    "influx11_server",
    "kafka_broker",
    "unique_name",
]

INFLUX_AUTH = ("linewatch", "s3cr@t/x")  # needs %-escaping in an influx:// URL


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """One real KRaft broker on 127.0.0.1 for the whole session."""
    broker = KafkaBroker(
        data_dir=tmp_path_factory.mktemp("kafka"),
        config={"num.partitions": 3, "log.retention.ms": -1},
    )
    broker.start()
    try:
        yield broker
    finally:
        broker.close()


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A topic/group prefix of this test's own."""
    return "t-" + "".join(c if c.isalnum() else "-" for c in request.node.name)[:60]


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


@pytest.fixture(scope="session")
def alertmanager_webhook() -> Iterator[WebhookReceiver]:
    """An HTTP receiver on 127.0.0.1 that keeps every webhook body it is sent."""
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="session")
def alertmanager_server(
    tmp_path_factory: pytest.TempPathFactory, alertmanager_webhook: WebhookReceiver
) -> Iterator[AlertmanagerServer]:
    """Alertmanager 0.35 on 127.0.0.1 routing every alert to ``alertmanager_webhook``.

    ``group_by: [alertname]``, ``group_wait`` and ``group_interval`` 1 s,
    ``send_resolved``: a test sees a notification within seconds.
    """
    server = AlertmanagerServer(
        tmp_path_factory.mktemp("alertmanager"), webhook_url=alertmanager_webhook.url
    )
    with server:
        yield server
