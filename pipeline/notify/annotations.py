"""Acknowledgements and assignable causes, kept as a JSON-lines file in the notify state dir.

``linewatch serve`` appends one :class:`~linewatch.pipeline.models.AlertAnnotation` a line
(fsynced); the running job's notifier reads what is new since its last look and stops the
acknowledged alerts from repeating. Only whole lines are read, so a line being written is
picked up at the next look, never half of it.

>>> import tempfile
>>> from datetime import datetime, timezone
>>> log = AnnotationLog(Path(tempfile.mkdtemp()) / "annotations.jsonl")
>>> t = datetime(2026, 11, 23, 8, tzinfo=timezone.utc)
>>> log.append(AlertAnnotation(ts=t, line="L3", station="weld-2", characteristic="c",
...     rule="nelson1", alert_id="f-1", fingerprint="f", kind="ack", author="anna"))
>>> found, offset = log.read_from(0)
>>> [(a.kind, a.author) for a in found], log.read_from(offset)[0]
([('ack', 'anna')], [])
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import msgspec

from linewatch.pipeline.models import AlertAnnotation

__all__ = ["ANNOTATIONS_FILE", "AnnotationLog"]

ANNOTATIONS_FILE = "annotations.jsonl"


class AnnotationLog:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def append(self, annotation: AlertAnnotation) -> None:
        line = msgspec.json.encode(annotation) + b"\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("ab") as out:
                out.write(line)
                out.flush()
                os.fsync(out.fileno())

    def read_from(self, offset: int) -> tuple[list[AlertAnnotation], int]:
        """The annotations after byte ``offset`` and the offset after the last whole line.

        A line that does not decode is skipped (and counted past), never fatal: the file
        is written by another process.
        """
        try:
            with self.path.open("rb") as source:
                source.seek(offset)
                data = source.read()
        except FileNotFoundError:
            return [], 0
        end = data.rfind(b"\n") + 1
        found: list[AlertAnnotation] = []
        for raw in data[:end].splitlines():
            try:
                found.append(msgspec.json.decode(raw, type=AlertAnnotation))
            except (msgspec.DecodeError, msgspec.ValidationError):
                continue
        return found, offset + end

    def all(self) -> list[AlertAnnotation]:
        return self.read_from(0)[0]
