"""``kafka://HOST:PORT/TOPIC`` URLs, as ``simulate --to`` takes them."""

from __future__ import annotations

__all__ = ["parse_kafka_url", "split_transport"]


def parse_kafka_url(url: str) -> tuple[str, str]:
    """``kafka://HOST:PORT/TOPIC`` as ``(bootstrap, topic)``.

    >>> parse_kafka_url("kafka://127.0.0.1:9092/line-events")
    ('127.0.0.1:9092', 'line-events')
    >>> parse_kafka_url("http://x/y")
    Traceback (most recent call last):
    ...
    ValueError: 'http://x/y' is not kafka://HOST:PORT/TOPIC
    """
    prefix = "kafka://"
    rest = url[len(prefix) :] if url.startswith(prefix) else ""
    bootstrap, _, topic = rest.partition("/")
    if not bootstrap or not topic or "/" in topic:
        raise ValueError(f"{url!r} is not kafka://HOST:PORT/TOPIC")
    return bootstrap, topic


def split_transport(url: str) -> tuple[str, str | None]:
    """A URL without its ``?transport=NAME`` query, and that name (None: not given).

    >>> split_transport("kafka://127.0.0.1:9092/events?transport=kafka-python")
    ('kafka://127.0.0.1:9092/events', 'kafka-python')
    >>> split_transport("kafka://127.0.0.1:9092/events")
    ('kafka://127.0.0.1:9092/events', None)
    >>> split_transport("kafka://127.0.0.1:9092/events?acks=1")
    Traceback (most recent call last):
    ...
    ValueError: 'kafka://127.0.0.1:9092/events?acks=1': the only query is ?transport=NAME
    """
    base, mark, query = url.partition("?")
    if not mark:
        return url, None
    name, equals, value = query.partition("=")
    if name != "transport" or not equals or not value or "&" in value:
        raise ValueError(f"{url!r}: the only query is ?transport=NAME")
    return base, value
