"""Decode and validate raw records: any input gives a wire record or a dead letter.

No exception escapes :func:`decode`: malformed bytes, wrong types, naive timestamps,
impossible counts all become a :class:`~linewatch.pipeline.models.DeadLetter` that keeps the
original payload and says why, naming the field.

>>> from linewatch.pipeline.models import RawRecord
>>> letter = decode(RawRecord(b'{"kind":"parameter","ts":"2026-11-23T08:00:00Z"}', "a.jsonl:7"))
>>> letter.reason
'a.jsonl:7: Object missing required field `line`'
>>> decode(RawRecord(b'\\xff\\xfe', "a.jsonl:8")).payload_encoding
'base64'
"""

from __future__ import annotations

import base64
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
            if "__extra_cells__" in payload:
                extra = payload["__extra_cells__"]
                return dead_letter(raw, f"the row has {len(extra)} more cell(s) than the header")
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
        return dead_letter(raw, "JSON is nested too deeply")


def _explain_decode_error(exc: msgspec.DecodeError, payload: Any) -> str:
    message = str(exc)
    if isinstance(payload, bytes):
        try:
            payload.decode("utf-8")
        except UnicodeDecodeError as bad:
            return f"not UTF-8 text (byte {bad.start}): {message}"
    return message


def dead_letter(raw: RawRecord, reason: str) -> DeadLetter:
    """A dead letter that keeps ``raw``'s payload whole; ``reason`` is prefixed with its origin."""
    payload = raw.payload
    encoding: Any
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
