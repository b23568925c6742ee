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
    broker = KafkaBroker(data_dir=tmp_path_factory.mktemp("kafka"),
                         config={"num.partitions": 3})
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
