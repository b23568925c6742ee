"""Local checkpoints: detector state and source position, saved together atomically.

File and single-process modes keep one checkpoint file per job in ``state_dir``. It is
written to a temporary file, fsynced and renamed over the old one, so a crash leaves
either the previous checkpoint or the new one, never half of each.

>>> import tempfile
>>> store = LocalStateStore(tempfile.mkdtemp())
>>> store.load() is None
True
>>> store.save(Checkpoint(source={"records": 10}, engine={"streams": {}}))
>>> store.load().source
{'records': 10}
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import msgspec

__all__ = ["ChangelogStore", "Checkpoint", "LocalStateStore"]

FORMAT_VERSION = 1


@dataclass(slots=True)
class Checkpoint:
    """What a job needs to resume: where the source stood and all detector state."""

    source: dict[str, Any]
    engine: dict[str, Any]
    # Partitioned sources: per key, the next offset of each topic-partition its state holds.
    applied: dict[str, dict[str, int]] = field(default_factory=dict)
    key_partition: dict[str, int] = field(default_factory=dict)
    written_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    version: int = FORMAT_VERSION


class LocalStateStore:
    """Keeps the latest checkpoint in ``<directory>/checkpoint.json``."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / "checkpoint.json"

    def load(self) -> Checkpoint | None:
        """The saved checkpoint, or ``None`` when there is none yet."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            checkpoint = msgspec.json.decode(data, type=Checkpoint)
        except msgspec.DecodeError as exc:
            raise ValueError(f"{self.path}: checkpoint is not valid: {exc}") from exc
        if checkpoint.version != FORMAT_VERSION:
            raise ValueError(
                f"{self.path}: checkpoint format {checkpoint.version}, expected {FORMAT_VERSION}"
            )
        return checkpoint

    def save(self, checkpoint: Checkpoint) -> None:
        """Replace the checkpoint atomically."""
        temporary = self.path.with_suffix(".json.tmp")
        with temporary.open("wb") as out:
            out.write(msgspec.json.encode(checkpoint))
            out.flush()
            os.fsync(out.fileno())
        temporary.replace(self.path)
        directory = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


class ChangelogStore(Protocol):
    """State per ``line/station`` key, partitioned like the input (a Kafka changelog)."""

    def save(self, entries: Iterable[tuple[int, str, bytes | None]]) -> None:
        """Durably write ``(partition, key, state)``; ``None`` deletes the key."""
        ...

    def load(self, partitions: Iterable[int]) -> Iterable[tuple[int, str, bytes]]:
        """The latest ``(partition, key, state)`` of every key in these partitions."""
        ...
