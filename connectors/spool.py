"""A durable, bounded, on-disk queue of opaque payloads for sinks and notification receivers.

A :class:`Spool` keeps what a server did not take yet (an InfluxDB batch, a webhook body,
an e-mail) until the caller acknowledges its delivery. Each entry is one file holding a
small JSON header (idempotency key, metadata, creation time, payload size and CRC-32) and
the payload bytes. Entries come back in the order they were appended, also after a restart.

Durability: :meth:`Spool.append` writes a ``.tmp`` file, fsyncs it, renames it into place and
fsyncs the directory before it returns; :meth:`Spool.ack` appends the key to an fsynced
``acked.log`` before it deletes the file. A caller handling several at once may pass
``sync=False`` and call :meth:`Spool.sync` after the last (one directory fsync for many
appends, one log fsync for many acks): until then those appends may vanish in a crash
(the caller must not count them as stored) and those acks may be resent. So after
``kill -9``:

- a ``.tmp`` file is an append that never returned (the caller still holds the payload):
  it is deleted;
- an entry file shorter or longer than its header says, or with an unreadable header, is a
  torn write the file system did not order: it is moved to ``<root>/corrupt/`` with a
  warning (kept for a person to look at, never delivered, never silently lost);
- an entry whose key is in ``acked.log`` was delivered before the crash: it is deleted;
- a torn last line of ``acked.log`` (no newline) is ignored: that entry stays pending and
  is sent again, at least once, with the same key.

Idempotency: every entry has a key (the caller's, e.g. ``alert_id`` + status, or a fresh
one). Appending a key that is pending, or was acknowledged within the last
``remember_acked`` acknowledgements, stores nothing and returns ``False``; a receiver sees
the same key on a resend after a crash and can drop the duplicate.

Bound: the entry files take at most ``max_bytes`` (header included); an empty spool takes
one entry of any size, so a single large payload is never refused forever. A full spool
makes :meth:`Spool.append` raise :class:`SpoolFull`, a
:class:`~linewatch.pipeline.models.BackpressureError` with ``retry_after``.

Processes: each :class:`Spool` locks a ``slot-N`` directory of its own under ``root``
(``flock``), so workers sharing a configuration never share files, and adopts the pending
entries of unlocked slots a crashed process left behind (after its own, in their order).
One :class:`Spool` is not safe to share between threads.

>>> import tempfile
>>> root = Path(tempfile.mkdtemp())
>>> spool = Spool(root, max_bytes=1 << 20)
>>> spool.append(b'{"text": "7 points above the center line"}', key="a1:firing")
True
>>> spool.append(b"second", key="a2:firing", meta={"receiver": "lead-a"})
True
>>> spool.append(b"resent", key="a1:firing")  # already pending: not stored twice
False
>>> [(entry.key, spool.read(entry)) for entry in spool]
[('a1:firing', b'{"text": "7 points above the center line"}'), ('a2:firing', b'second')]
>>> spool.ack(spool.first())
>>> spool.close()
>>> again = Spool(root, max_bytes=1 << 20)  # a restart sees what was not acknowledged
>>> [(entry.key, entry.meta) for entry in again]
[('a2:firing', {'receiver': 'lead-a'})]
>>> again.delivered("a1:firing"), again.append(b"late copy", key="a1:firing")
(True, False)
>>> again.close()
"""

from __future__ import annotations

import fcntl
import itertools
import logging
import os
import re
import struct
import uuid
import zlib
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self

import msgspec

from linewatch.pipeline.models import BackpressureError

__all__ = [
    "MetaValue",
    "Spool",
    "SpoolCorrupt",
    "SpoolEntry",
    "SpoolFull",
]

log = logging.getLogger(__name__)

MetaValue = str | int | float | bool | None

_MAGIC = b"LWSPOOL1"
_PREFIX = struct.Struct(">8sI")  # magic, header length
_ACKED = "acked.log"
_SEQ_DIGITS = 12


class SpoolFull(BackpressureError):
    """The spool holds ``max_bytes`` already; append again after ``retry_after`` seconds."""


class SpoolCorrupt(OSError):
    """An entry's payload no longer matches its checksum; it was moved to ``corrupt/``."""


class _Header(msgspec.Struct, frozen=True):
    key: str
    meta: dict[str, MetaValue]
    created_at: datetime
    size: int
    crc32: int


@dataclass(frozen=True, slots=True)
class SpoolEntry:
    """One pending payload: read it with :meth:`Spool.read`, then :meth:`Spool.ack` it."""

    seq: int
    key: str
    meta: Mapping[str, MetaValue]
    created_at: datetime
    size: int  # bytes on disk, header included
    path: Path
    crc32: int


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _try_lock(slot: Path) -> int | None:
    slot.mkdir(exist_ok=True)
    fd = os.open(slot / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _read_acked(slot: Path) -> list[str]:
    try:
        text = (slot / _ACKED).read_bytes().decode(errors="replace")
    except FileNotFoundError:
        return []
    complete, _, _torn = text.rpartition("\n")  # a line without its newline never counted
    return [key for key in complete.split("\n") if key]


class Spool:
    """Pending payloads in append order, on disk under ``root``; see the module docstring.

    ``suffix`` names the entry files (``NNNNNNNNNNNN<suffix>``), ``label`` prefixes log
    messages, ``retry_after_s`` is what :class:`SpoolFull` suggests.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        max_bytes: int,
        suffix: str = ".entry",
        label: str = "spool",
        retry_after_s: float = 1.0,
        remember_acked: int = 10_000,
    ) -> None:
        if max_bytes < 1:
            raise ValueError(f"spool max_bytes must be >= 1, got {max_bytes}")
        if remember_acked < 0:
            raise ValueError(f"spool remember_acked must be >= 0, got {remember_acked}")
        if not re.fullmatch(r"\.[A-Za-z0-9._-]+", suffix) or suffix.endswith(".tmp"):
            raise ValueError(f"spool suffix must look like '.entry', got {suffix!r}")
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.suffix = suffix
        self.label = label
        self.retry_after_s = retry_after_s
        self.remember_acked = remember_acked
        self.root.mkdir(parents=True, exist_ok=True)
        self._name = re.compile(rf"^(\d{{{_SEQ_DIGITS}}}){re.escape(suffix)}$")
        self._lock_fd = -1
        self._unsynced = False  # appends or acks made with sync=False since the last sync()
        for number in itertools.count():
            slot = self.root / f"slot-{number}"
            fd = _try_lock(slot)
            if fd is not None:
                self.dir, self._lock_fd = slot, fd
                break
        self._entries: OrderedDict[str, SpoolEntry] = OrderedDict()
        self._acked: OrderedDict[str, None] = OrderedDict.fromkeys(_read_acked(self.dir))
        self._acked_lines = len(self._acked)
        self._seq = 0
        self.bytes = 0
        try:
            for entry in self._scan(self.dir, set(self._acked)):
                self._keep(entry)
            self._seq = max((e.seq + 1 for e in self._entries.values()), default=0)
            adopted_logs = self._adopt_orphans()
            self._compact_acked()  # now holds the adopted slots' keys too
            for path in adopted_logs:
                path.unlink(missing_ok=True)
            self._acked_log = (self.dir / _ACKED).open("ab")
        except BaseException:
            self.close()
            raise

    # -- reading -----------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[SpoolEntry]:
        """The pending entries, oldest first (a snapshot: acking while iterating is fine)."""
        return iter(list(self._entries.values()))

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def first(self) -> SpoolEntry | None:
        """The oldest pending entry, or None."""
        return next(iter(self._entries.values()), None)

    def delivered(self, key: str) -> bool:
        """The key was acknowledged (within the last ``remember_acked`` acknowledgements)."""
        return key in self._acked

    def read(self, entry: SpoolEntry) -> bytes:
        """The payload; raises :class:`SpoolCorrupt` (and sets the file aside) if it changed."""
        data = entry.path.read_bytes()
        intact = len(data) == entry.size and data.startswith(_MAGIC)
        if intact:
            _magic, header_length = _PREFIX.unpack_from(data)
            payload = data[_PREFIX.size + header_length :]
            intact = zlib.crc32(payload) == entry.crc32
        if not intact:
            self._entries.pop(entry.key, None)
            self.bytes -= entry.size
            where = self._quarantine(entry.path, "checksum mismatch")
            raise SpoolCorrupt(f"{self.label}: {entry.path} failed its checksum; moved to {where}")
        return payload

    def fits(self, size: int) -> bool:
        """Room for an entry of ``size`` bytes on disk, header included (an empty spool takes
        one of any size)."""
        return not self._entries or self.bytes + size <= self.max_bytes

    # -- writing -----------------------------------------------------------------------

    def append(
        self,
        payload: bytes,
        *,
        key: str | None = None,
        meta: Mapping[str, MetaValue] | None = None,
        sync: bool = True,
    ) -> bool:
        """Store ``payload`` durably (fsynced) at the end; ``False`` if ``key`` is known.

        ``sync=False`` leaves the directory fsync (the rename's durability) to :meth:`sync`.

        ``key`` defaults to a fresh random one. Raises :class:`SpoolFull` when the payload
        does not fit (see :meth:`fits`); nothing is written then.
        """
        key = uuid.uuid4().hex if key is None else key
        if not key or not key.isprintable():
            raise ValueError(f"spool key must be non-empty printable text, got {key!r}")
        if key in self._entries or key in self._acked:
            return False
        header = _Header(
            key=key,
            meta=dict(meta or {}),
            created_at=datetime.now(UTC),
            size=len(payload),
            crc32=zlib.crc32(payload),
        )
        encoded = msgspec.json.encode(header)
        size = _PREFIX.size + len(encoded) + len(payload)
        if not self.fits(size):
            raise SpoolFull(
                f"{self.label} {self.dir} is full ({self.bytes} of {self.max_bytes} bytes, "
                f"{len(self)} entries; this one needs {size})",
                retry_after=self.retry_after_s,
            )
        path = self.dir / f"{self._seq:0{_SEQ_DIGITS}d}{self.suffix}"
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as out:
            out.write(_PREFIX.pack(_MAGIC, len(encoded)) + encoded + payload)
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(path)
        if sync:
            _fsync_dir(self.dir)
        else:
            self._unsynced = True
        self._seq += 1
        self._keep(
            SpoolEntry(self._seq - 1, key, header.meta, header.created_at, size, path, header.crc32)
        )
        return True

    def ack(self, entry: SpoolEntry | str, *, sync: bool = True) -> None:
        """The entry (or key) was delivered: remember its key durably, delete its file.

        ``sync=False`` leaves the log's fsync to :meth:`sync` (a crash before it resends).
        """
        key = entry if isinstance(entry, str) else entry.key
        found = self._entries.pop(key, None)
        if found is None:
            raise KeyError(f"{self.label}: no pending entry with key {key!r}")
        self._acked_log.write(key.encode() + b"\n")
        self._acked_log.flush()
        if sync:
            os.fsync(self._acked_log.fileno())
        else:
            self._unsynced = True
        self._remember(key)
        found.path.unlink(missing_ok=True)
        self.bytes -= found.size
        if self._acked_lines > 2 * self.remember_acked:
            self._compact_acked()

    def sync(self) -> None:
        """Make the appends and acks made with ``sync=False`` durable (two fsyncs at most)."""
        if not self._unsynced:
            return
        _fsync_dir(self.dir)
        os.fsync(self._acked_log.fileno())
        self._unsynced = False

    def close(self) -> None:
        """Release the slot's lock (pending entries stay for the next process)."""
        if getattr(self, "_unsynced", False) and not self._acked_log.closed:
            self.sync()
        log_file = getattr(self, "_acked_log", None)
        if log_file is not None and not log_file.closed:
            log_file.close()
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = -1

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Spool({self.dir}, {len(self)} entries, {self.bytes}/{self.max_bytes} bytes)"

    # -- internals ---------------------------------------------------------------------

    def _keep(self, entry: SpoolEntry) -> None:
        self._entries[entry.key] = entry
        self.bytes += entry.size

    def _remember(self, key: str) -> None:
        self._acked[key] = None
        self._acked.move_to_end(key)
        self._acked_lines += 1
        while len(self._acked) > self.remember_acked:
            self._acked.popitem(last=False)

    def _compact_acked(self) -> None:
        # Rewrite acked.log with the keys still remembered (atomically: tmp, fsync, rename).
        while len(self._acked) > self.remember_acked:
            self._acked.popitem(last=False)
        tmp = self.dir / f"{_ACKED}.tmp"
        with tmp.open("wb") as out:
            out.write(b"".join(key.encode() + b"\n" for key in self._acked))
            out.flush()
            os.fsync(out.fileno())
        reopen = getattr(self, "_acked_log", None) is not None
        if reopen:
            self._acked_log.close()
        tmp.replace(self.dir / _ACKED)
        _fsync_dir(self.dir)
        self._acked_lines = len(self._acked)
        if reopen:
            self._acked_log = (self.dir / _ACKED).open("ab")

    def _scan(self, folder: Path, acked: set[str]) -> list[SpoolEntry]:
        found = []
        for path in folder.iterdir():
            if path.name.endswith(".tmp"):
                path.unlink(missing_ok=True)  # an append that crashed before its rename
                continue
            match = self._name.match(path.name)
            if match is None:
                continue
            entry = self._load(path, int(match.group(1)))
            if entry is None:
                continue
            if entry.key in acked:
                path.unlink(missing_ok=True)  # delivered; the crash came before the unlink
                continue
            found.append(entry)
        return sorted(found, key=lambda e: e.seq)

    def _load(self, path: Path, seq: int) -> SpoolEntry | None:
        try:
            with path.open("rb") as source:
                prefix = source.read(_PREFIX.size)
                magic, header_length = _PREFIX.unpack(prefix)
                if magic != _MAGIC:
                    raise ValueError("not a spool entry")
                header = msgspec.json.decode(source.read(header_length), type=_Header)
            size = path.stat().st_size
            if size != _PREFIX.size + header_length + header.size:
                raise ValueError(f"{size} bytes on disk, header says {header.size} payload")
        except (struct.error, ValueError, msgspec.DecodeError) as exc:
            where = self._quarantine(path, str(exc))
            log.warning("%s: %s is torn (%s); moved to %s", self.label, path, exc, where)
            return None
        return SpoolEntry(seq, header.key, header.meta, header.created_at, size, path, header.crc32)

    def _quarantine(self, path: Path, reason: str) -> Path:
        corrupt = self.root / "corrupt"
        corrupt.mkdir(exist_ok=True)
        target = corrupt / f"{path.parent.name}-{path.name}"
        for n in itertools.count(1):
            if not target.exists():
                break
            target = corrupt / f"{path.parent.name}-{path.name}.{n}"
        path.replace(target)
        log.debug("%s: quarantined %s (%s)", self.label, target, reason)
        return target

    def _adopt_orphans(self) -> list[Path]:
        """Take over unlocked slots' entries; returns their acked logs, to delete later."""
        adopted_logs = []
        for slot in sorted(self.root.glob("slot-*"), key=_slot_number):
            if slot == self.dir or not slot.is_dir():
                continue
            fd = _try_lock(slot)
            if fd is None:
                continue  # a live process owns it
            try:
                orphan_acked = _read_acked(slot)
                for key in orphan_acked:
                    self._acked[key] = None
                for orphan in self._scan(slot, set(orphan_acked)):
                    if orphan.key in self._entries or orphan.key in self._acked:
                        orphan.path.unlink()  # the same payload is already ours
                        continue
                    target = self.dir / f"{self._seq:0{_SEQ_DIGITS}d}{self.suffix}"
                    self._seq += 1
                    orphan.path.replace(target)
                    self._keep(
                        SpoolEntry(
                            self._seq - 1,
                            orphan.key,
                            orphan.meta,
                            orphan.created_at,
                            orphan.size,
                            target,
                            orphan.crc32,
                        )
                    )
                    log.warning("%s: adopted %s from %s", self.label, target.name, slot)
                _fsync_dir(self.dir)
                adopted_logs.append(slot / _ACKED)
            finally:
                os.close(fd)
        return adopted_logs


def _slot_number(slot: Path) -> int:
    tail = slot.name.removeprefix("slot-")
    return int(tail) if tail.isdigit() else -1
