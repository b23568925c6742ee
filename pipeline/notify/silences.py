"""Silences: matchers, a time window, author and comment; persisted to a JSON file.

A silence mutes the alerts all its matchers match while ``starts_at <= now < ends_at``,
and expires on its own at ``ends_at``. Expiring one early sets ``ends_at`` to now. The
file is rewritten atomically (temporary file, fsync, rename) on every change, so a crash
leaves the old or the new set, never half of one. Silences that ended more than
``retention`` ago are dropped from the file.

>>> import tempfile
>>> from datetime import datetime, timedelta, timezone
>>> t0 = datetime(2026, 11, 23, 8, tzinfo=timezone.utc)
>>> store = SilenceStore(Path(tempfile.mkdtemp()) / "silences.json")
>>> s = store.add(["line=L3", "rule=~nelson[2-4]"], t0, t0 + timedelta(hours=2),
...     created_by="anna", comment="tool change", now=t0)
>>> store.silenced({"line": "L3", "rule": "nelson2"}, t0 + timedelta(hours=1))
True
>>> store.silenced({"line": "L3", "rule": "nelson2"}, t0 + timedelta(hours=2))
False
>>> [x.comment for x in SilenceStore(store.path).active(t0)]
['tool change']
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path

import msgspec

from linewatch.pipeline.models import AwareDatetime
from linewatch.pipeline.notify.matchers import Matcher, all_match, parse_matchers

__all__ = ["Silence", "SilenceError", "SilenceStore"]


class SilenceError(ValueError):
    """A silence that cannot be created or found; the message names it."""


class Silence(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    matchers: list[str]
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    created_by: str
    comment: str
    updated_at: AwareDatetime

    def parsed(self) -> tuple[Matcher, ...]:
        return parse_matchers(self.matchers)

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def state(self, now: datetime) -> str:
        """``pending``, ``active`` or ``expired``, as Alertmanager names them."""
        if now < self.starts_at:
            return "pending"
        return "active" if now < self.ends_at else "expired"


class _File(msgspec.Struct):
    version: int
    silences: list[Silence]


class SilenceStore:
    def __init__(self, path: Path, retention: timedelta = timedelta(days=5)) -> None:
        self.path = Path(path)
        self.retention = retention
        self._silences: dict[str, Silence] = {}
        self._parsed: dict[str, tuple[Matcher, ...]] = {}
        if self.path.exists():
            try:
                saved = msgspec.json.decode(self.path.read_bytes(), type=_File)
            except msgspec.DecodeError as exc:
                raise SilenceError(f"{self.path}: not a silences file ({exc})") from None
            for silence in saved.silences:
                self._keep(silence)

    def add(
        self,
        matchers: Iterable[str],
        starts_at: datetime,
        ends_at: datetime,
        *,
        created_by: str,
        comment: str,
        now: datetime,
    ) -> Silence:
        """Create a silence; raises :class:`SilenceError` for bad matchers or times."""
        texts = list(matchers)
        if not texts:
            raise SilenceError("a silence needs at least one matcher")
        try:
            parse_matchers(texts)
        except ValueError as exc:
            raise SilenceError(str(exc)) from None
        if starts_at.tzinfo is None or ends_at.tzinfo is None:
            raise SilenceError("silence starts_at and ends_at need a time zone")
        if ends_at <= starts_at:
            raise SilenceError(
                f"silence ends_at {ends_at.isoformat()} is not after starts_at {starts_at.isoformat()}"
            )
        if not created_by.strip():
            raise SilenceError("a silence needs created_by (who made it)")
        silence = Silence(
            id=str(uuid.uuid4()),
            matchers=texts,
            starts_at=starts_at,
            ends_at=ends_at,
            created_by=created_by,
            comment=comment,
            updated_at=now,
        )
        self._keep(silence)
        self._save(now)
        return silence

    def expire(self, silence_id: str, now: datetime) -> Silence:
        """End a silence now (a pending one ends before it started: it never mutes)."""
        found = self._silences.get(silence_id)
        if found is None:
            raise SilenceError(f"no silence with id {silence_id!r}")
        ended = msgspec.structs.replace(
            found, ends_at=max(min(found.ends_at, now), found.starts_at), updated_at=now
        )
        if ended.ends_at == ended.starts_at and now < found.starts_at:
            ended = msgspec.structs.replace(ended, starts_at=now, ends_at=now)
        self._keep(ended)
        self._save(now)
        return ended

    def get(self, silence_id: str) -> Silence | None:
        return self._silences.get(silence_id)

    def all(self) -> list[Silence]:
        return sorted(self._silences.values(), key=lambda s: (s.starts_at, s.id))

    def active(self, now: datetime) -> list[Silence]:
        return [s for s in self.all() if s.active(now)]

    def silenced_by(self, labels: Mapping[str, str], now: datetime) -> list[str]:
        """Ids of the active silences that mute an alert with these labels."""
        return [s.id for s in self.all() if s.active(now) and all_match(self._parsed[s.id], labels)]

    def silenced(self, labels: Mapping[str, str], now: datetime) -> bool:
        return bool(self.silenced_by(labels, now))

    def _keep(self, silence: Silence) -> None:
        self._silences[silence.id] = silence
        self._parsed[silence.id] = silence.parsed()

    def _save(self, now: datetime) -> None:
        for old in [s for s in self._silences.values() if s.ends_at + self.retention < now]:
            del self._silences[old.id], self._parsed[old.id]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("wb") as out:
            out.write(msgspec.json.format(msgspec.json.encode(_File(1, self.all()))))
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(self.path)
        fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
