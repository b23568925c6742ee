"""Decode and validate raw records: any input gives a wire record or a dead letter.

No exception escapes :func:`decode`: malformed bytes, wrong types, naive timestamps,
impossible counts all become a :class:`~linewatch.pipeline.models.DeadLetter` that keeps the
original payload and says why, naming the field (```$.value```; ```$``` when the damage
comes before the first field, e.g. a record that is not a JSON object). Byte offsets
count from 0, as msgspec's do.

A CSV row (a ``dict`` of cells) may carry the bytes of its line under ``__original__``;
its dead letter then keeps those bytes, not the cells. A row the file reader could not
split carries the reason under ``__error__`` and is a dead letter as it stands.

>>> from linewatch.pipeline.models import RawRecord
>>> letter = decode(RawRecord(b'{"kind":"parameter","ts":"2026-11-23T08:00:00Z"}', "a.jsonl:7"))
>>> letter.reason
'a.jsonl:7: Object missing required field `line`'
>>> decode(RawRecord(b'\\xff\\xfe', "a.jsonl:8")).payload_encoding
'base64'
>>> decode(RawRecord(b'{"kind":"parameter","line":"L\\xff3"}', "a.jsonl:9")).reason
'a.jsonl:9: not UTF-8 text (byte 29) - in `$.line`'
>>> decode(RawRecord(b'{"kind":"parameter","value":5,4}', "a.jsonl:10")).reason
'a.jsonl:10: JSON is malformed: object keys must be strings (byte 30) - near `$.value`'
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from typing import Any

import msgspec

from linewatch.pipeline.models import DeadLetter, PartitionOffset, RawRecord, WireRecord

__all__ = ["dead_letter", "decode"]

_json_decoder = msgspec.json.Decoder(WireRecord)
_WIRE_TYPES: tuple[type, ...] = WireRecord.__args__


def decode(raw: RawRecord) -> WireRecord | DeadLetter:
    """The wire record in ``raw``, or a dead letter that says what is wrong with it."""
    payload = raw.payload
    try:
        if isinstance(payload, bytes | bytearray | memoryview):
            decoded: WireRecord = _json_decoder.decode(payload)
            return decoded
        if isinstance(payload, dict):
            if _ERROR_KEY in payload:
                return dead_letter(raw, str(payload[_ERROR_KEY]))
            record: WireRecord = msgspec.convert(payload, WireRecord, strict=False)
            return record
        if isinstance(payload, _WIRE_TYPES):
            return payload
        return dead_letter(raw, f"unsupported payload type {type(payload).__name__}")
    except msgspec.DecodeError as exc:
        return dead_letter(raw, _explain_decode_error(exc, payload))
    except (msgspec.ValidationError, ValueError, TypeError) as exc:
        return dead_letter(raw, str(exc))
    except RecursionError:
        return dead_letter(raw, "JSON is nested too deeply - at `$`")


_ORIGINAL_KEY, _ERROR_KEY = "__original__", "__error__"  # see connectors/files.py
_KEY = re.compile(rb'"((?:[^"\\]|\\.){1,200})"\s*:')
_AT_BYTE = re.compile(r"\(byte (\d+)\)")


def _field_near(payload: bytes, byte: int) -> str:
    """The JSON path of the last key that starts before ``byte``; ``$`` if none does."""
    last = None
    for last in _KEY.finditer(payload, 0, byte):  # noqa: B007
        pass
    if last is None:
        return "`$`"
    return f"`$.{last.group(1).decode('utf-8', errors='backslashreplace')}`"


def _explain_decode_error(exc: msgspec.DecodeError, payload: Any) -> str:
    """msgspec's syntax error, with the field it happened in."""
    message = str(exc)
    if isinstance(exc, msgspec.ValidationError):
        # Checks of the whole record name their fields first (`nonconforming` (11) exceeds...).
        named = "- at `$" in message or "field `" in message or message.startswith("`")
        return message if named else f"{message} - at `$`"
    if not isinstance(payload, bytes | bytearray | memoryview):
        return f"{message} - at `$`"
    data = bytes(payload)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as bad:
        return f"not UTF-8 text (byte {bad.start}) - in {_field_near(data, bad.start)}"
    at_byte = _AT_BYTE.search(message)
    if at_byte is not None:
        return f"{message} - near {_field_near(data, int(at_byte.group(1)))}"
    if "truncated" in message:
        return f"{message} - near {_field_near(data, len(data))}"
    return f"{message} - at `$`"


def dead_letter(raw: RawRecord, reason: str) -> DeadLetter:
    """A dead letter that keeps ``raw``'s payload whole; ``reason`` is prefixed with its origin."""
    payload = raw.payload
    encoding: Any
    if isinstance(payload, dict) and isinstance(payload.get(_ORIGINAL_KEY), bytes):
        payload = payload[_ORIGINAL_KEY]
    if isinstance(payload, bytes | bytearray | memoryview):
        data = bytes(payload)
        try:
            text, encoding = data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            text, encoding = base64.b64encode(data).decode("ascii"), "base64"
    else:
        try:
            text = msgspec.json.encode(payload).decode()
        except (TypeError, msgspec.EncodeError):
            text = repr(payload)
        encoding = "json"
    headers = {}
    for name, value in raw.headers:
        headers[name] = value.decode("utf-8", errors="backslashreplace")
    source: dict[str, str | int] = {}
    position = raw.position
    if isinstance(position, PartitionOffset):
        source = {
            "topic": position.topic,
            "partition": position.partition,
            "offset": position.offset,
        }
    key = raw.key.decode("utf-8", errors="backslashreplace") if raw.key is not None else None
    return DeadLetter(
        ts=datetime.now(UTC),
        origin=raw.origin,
        reason=f"{raw.origin}: {reason}",
        payload=text,
        payload_encoding=encoding,
        headers=headers,
        key=key,
        source=source,
    )
