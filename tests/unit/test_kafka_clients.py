"""The Kafka transport choice, without a broker: config, install hints, URLs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from linewatch.connectors.kafka import TRANSPORTS, produce_records
from linewatch.connectors.kafka.clients import import_client
from linewatch.pipeline.cli import main
from linewatch.pipeline.config import ConfigError, parse_config

LINES = [{"name": "L1", "stations": [{"name": "weld"}]}]
MODULES = {"confluent": "confluent_kafka", "kafka-python": "kafka"}
HINTS = {
    "confluent": "Kafka transport 'confluent' needs confluent-kafka: "
    "pip install 'linewatch[confluent]'",
    "kafka-python": "Kafka transport 'kafka-python' needs kafka-python: "
    "pip install 'linewatch[kafka]'",
}


def kafka_config(transport: str | None) -> dict[str, object]:
    chosen = {} if transport is None else {"transport": transport}
    return {
        "lines": LINES,
        "source": {"type": "kafka", "bootstrap": "127.0.0.1:9", "topics": ["t"], **chosen},
        "sinks": [{"type": "kafka", "bootstrap": "127.0.0.1:9", **chosen}],
        "dead_letters": {"type": "kafka", "bootstrap": "127.0.0.1:9", **chosen},
        "checkpoint": {"changelog": {"type": "kafka", "bootstrap": "127.0.0.1:9", **chosen}},
    }


def test_confluent_is_the_default_transport_of_every_kafka_section() -> None:
    config = parse_config(kafka_config(None))
    assert config.checkpoint.changelog is not None
    chosen = [
        getattr(config.source, "transport", None),
        getattr(config.sinks[0], "transport", None),
        getattr(config.dead_letters, "transport", None),
        config.checkpoint.changelog.transport,
    ]
    assert chosen == ["confluent"] * 4
    assert TRANSPORTS == ("confluent", "kafka-python")


def test_an_unknown_transport_is_named_by_its_path() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(kafka_config("rdkafka"))
    paths = sorted(problem.split(":")[0] for problem in caught.value.problems)
    assert paths == [
        "checkpoint.changelog.transport",
        "dead_letters.transport",
        "sinks[0].transport",
        "source.transport",
    ]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_missing_client_fails_in_one_line_with_its_install_hint(
    transport: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(sys.modules, MODULES[transport], None)  # import raises ImportError
    with pytest.raises(ImportError) as caught:
        import_client(transport)
    assert str(caught.value) == HINTS[transport]
    path = tmp_path / "plant.yaml"
    sinks = f"[{{type: kafka, bootstrap: '127.0.0.1:9', transport: {transport}}}]"
    path.write_text(
        "lines: [{name: L1, stations: [{name: weld}]}]\n"
        "source: {type: file, path: in.jsonl}\n"
        f"sinks: {sinks}\n"
    )
    (tmp_path / "in.jsonl").write_text("")
    assert main(["run", "--config", str(path)]) == 1
    assert capsys.readouterr().err == f"error: {HINTS[transport]}\n"


def test_simulate_to_takes_the_transport_from_the_url() -> None:
    with pytest.raises(ValueError, match="the only query is"):
        produce_records([], "kafka://127.0.0.1:9/t?acks=1")
    with pytest.raises(ValueError, match="'zmq' is not one of confluent, kafka-python"):
        produce_records([], "kafka://127.0.0.1:9/t?transport=zmq")
