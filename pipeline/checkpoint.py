"""Local checkpoints: detector state and source position, saved together atomically.

File and single-process modes keep one checkpoint file per job in ``state_dir``. It is
written to a temporary file, fsynced and renamed over the old one, so a crash leaves
either the previous checkpoint or the new one, never half of each.

The file is two lines: a header with the format version and the SHA-256 of the body, and
the body (the :class:`Checkpoint` as JSON). :meth:`LocalStateStore.load` refuses, with a
:class:`CheckpointError` of one line that says what to do, a file of another format, one
whose body does not match its checksum (edited or damaged), and one whose fields are not
what a checkpoint holds; it never resumes from a doubtful state.

>>> import tempfile
>>> store = LocalStateStore(tempfile.mkdtemp())
>>> store.load() is None
True
>>> store.save(Checkpoint(source={"records": 10}, engine={"keys": {}}))
>>> store.load().source
{'records': 10}
>>> _ = store.path.write_bytes(store.path.read_bytes().replace(b'10', b'11'))
>>> try:
...     store.load()
... except CheckpointError as exc:
...     print(str(exc).split(": ", 1)[1])
checksum mismatch (the file was edited or damaged); rerun with --reset-state to start over
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import msgspec

__all__ = ["ChangelogStore", "Checkpoint", "CheckpointError", "LocalStateStore"]

FORMAT_VERSION = 2
_MAGIC = "linewatch-checkpoint"
_KEY = re.compile(r"^[^/\s]+/[^/\s]+$")
_KEY_STATE_FIELDS = ("streams", "kpi_window", "alerts")
RESET_HINT = "rerun with --reset-state to start over"


class CheckpointError(ValueError):
    """A checkpoint that cannot be trusted; the message is one line and says what to do."""


@dataclass(slots=True)
class Checkpoint:
    """What a job needs to resume: where the source stood and all detector state."""

    source: dict[str, Any]
    engine: dict[str, Any]
    # Partitioned sources: per key, the next offset of each topic-partition its state holds.
    applied: dict[str, dict[str, int]] = field(default_factory=dict)
    key_partition: dict[str, int] = field(default_factory=dict)
    # What the source is (file path, size, first block's hash; or topics and group), and
    # the byte length of each file sink at the checkpoint (truncated back to on resume).
    input: dict[str, Any] = field(default_factory=dict)
    sinks: dict[str, int] = field(default_factory=dict)
    written_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    version: int = FORMAT_VERSION


class LocalStateStore:
    """Keeps the latest checkpoint in ``<directory>/checkpoint.json``."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / "checkpoint.json"

    def _error(self, problem: str) -> CheckpointError:
        return CheckpointError(f"{self.path}: {problem}; {RESET_HINT}")

    def load(self) -> Checkpoint | None:
        """The saved checkpoint, or ``None`` when there is none yet."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._error(f"cannot read: {exc.strerror}") from None
        head, newline, body = data.partition(b"\n")
        try:
            header = msgspec.json.decode(head)
        except msgspec.DecodeError:
            header = None
        if not isinstance(header, dict) or header.get("format") != _MAGIC:
            try:
                old = msgspec.json.decode(data)
            except msgspec.DecodeError:
                old = None
            if isinstance(old, dict) and "version" in old and "engine" in old:
                raise self._error(
                    f"checkpoint format {old['version']!r} (an older Linewatch) cannot be "
                    f"verified, expected format {FORMAT_VERSION}"
                )
            raise self._error("not a Linewatch checkpoint (truncated or damaged)")
        if header.get("version") != FORMAT_VERSION:
            raise self._error(
                f"checkpoint format {header.get('version')!r}, expected {FORMAT_VERSION}"
            )
        if not newline or hashlib.sha256(body).hexdigest() != header.get("sha256"):
            raise self._error("checksum mismatch (the file was edited or damaged)")
        try:
            checkpoint = msgspec.json.decode(body, type=Checkpoint)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise self._error(f"checkpoint is not valid: {exc}") from None
        problem = _problem(checkpoint)
        if problem is not None:
            raise self._error(problem)
        return checkpoint

    def save(self, checkpoint: Checkpoint) -> None:
        """Replace the checkpoint atomically."""
        body = msgspec.json.encode(checkpoint)
        header = msgspec.json.encode(
            {
                "format": _MAGIC,
                "version": FORMAT_VERSION,
                "sha256": hashlib.sha256(body).hexdigest(),
            }
        )
        temporary = self.path.with_suffix(".json.tmp")
        with temporary.open("wb") as out:
            out.write(header + b"\n" + body)
            out.flush()
            os.fsync(out.fileno())
        temporary.replace(self.path)
        self._sync_directory()

    def clear(self) -> None:
        """Forget the checkpoint (``run --reset-state``)."""
        for path in (self.path, self.path.with_suffix(".json.tmp")):
            path.unlink(missing_ok=True)
        self._sync_directory()

    def _sync_directory(self) -> None:
        directory = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _problem(checkpoint: Checkpoint) -> str | None:
    """What is wrong with a checkpoint's fields, or ``None``."""
    if checkpoint.version != FORMAT_VERSION:
        return f"body says format {checkpoint.version}, expected {FORMAT_VERSION}"
    if "records" in checkpoint.source and not _count(checkpoint.source["records"]):
        return f"source.records must be a whole number >= 0, got {checkpoint.source['records']!r}"
    if "path" in checkpoint.source and "records" not in checkpoint.source:
        return "source.records is missing"
    keys = checkpoint.engine.get("keys")
    if not isinstance(keys, dict) or set(checkpoint.engine) != {"keys"}:
        return "engine must be {'keys': {...}}"
    for key, state in keys.items():
        if not _KEY.match(key):
            return f"engine.keys: {key!r} is not a line/station key"
        if not isinstance(state, dict) or any(f not in state for f in _KEY_STATE_FIELDS):
            return f"engine.keys[{key!r}] lacks {', '.join(_KEY_STATE_FIELDS)}"
    for key, offsets in checkpoint.applied.items():
        if not _KEY.match(key) or not all(_count(o) for o in offsets.values()):
            return f"applied[{key!r}] must hold offsets >= 0"
    if not all(_KEY.match(k) and _count(p) for k, p in checkpoint.key_partition.items()):
        return "key_partition must map line/station keys to partitions >= 0"
    if not all(_count(n) for n in checkpoint.sinks.values()):
        return "sinks must hold byte lengths >= 0"
    return None


class ChangelogStore(Protocol):
    """State per ``line/station`` key, partitioned like the input (a Kafka changelog)."""

    def save(self, entries: Iterable[tuple[int, str, bytes | None]]) -> None:
        """Durably write ``(partition, key, state)``; ``None`` deletes the key."""
        ...

    def load(self, partitions: Iterable[int]) -> Iterable[tuple[int, str, bytes]]:
        """The latest ``(partition, key, state)`` of every key in these partitions."""
        ...
