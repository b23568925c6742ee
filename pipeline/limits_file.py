"""The limits file: phase-I limits per stream, in versions, each approved and sealed by a hash.

``linewatch limits estimate`` appends a version (estimated from history); ``linewatch limits
approve`` stamps one with its approver, an ``effective_from`` time and the SHA-256 of its
content; ``run``/``replay`` chart against the approved version effective at a time. A file
is YAML (``.yaml``/``.yml``) or JSON (anything else), the same data either way::

    kind: linewatch-limits
    format: 1
    versions:
    - version: 1
      estimated_at: '2026-12-02T01:40:00+00:00'
      config: welding-line.yaml
      input: history.jsonl
      streams:
        L3/weld-2/nugget_dia_mm: {chart: xbar-r, estimator: rbar, center: ..., sigma: ...,
          limits: {xbar: {center: .., lcl: .., ucl: ..}, ...}, n: 50, excluded: [3],
          excluded_ts: [...], lag1_autocorrelation: 0.1, window: {first: .., last: ..},
          params: {center: .., sigma: ..}}
      approval: {by: A. Engineer, at: '...', effective_from: '...', sha256: '...'}

Versions are only ever appended; an approved version's hash covers everything in it but
the hash itself, so any later edit (a limit, the approver, the effective time) is found
when the file is read. Every problem is one :class:`LimitsFileError` line naming the file
and the field (``limits.yaml: versions[0].streams['L1/s/d'].params.sigma: ...``).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "FILE_KIND",
    "LimitsFile",
    "LimitsFileError",
    "StreamLimits",
    "content_hash",
    "stream_key",
]

FILE_KIND = "linewatch-limits"
_FORMAT = 1
#: Keys a stream's entry must have (the others are informative and optional).
_STREAM_REQUIRED = ("chart", "params", "n", "excluded", "window")


class LimitsFileError(ValueError):
    """A limits file that cannot be used; the message is one line naming file and field."""


@dataclass(frozen=True, slots=True)
class StreamLimits:
    """What a chart is seeded with: its parameters, their version and when they took effect."""

    chart: str
    params: dict[str, Any]
    version: int
    effective_from: datetime


def stream_key(line: str, station: str, name: str) -> str:
    """The file's key of a stream (a parameter's name is ``equipment/name``).

    >>> stream_key("L3", "weld-2", "welder-07/tip_temp_c")
    'L3/weld-2/welder-07/tip_temp_c'
    """
    return f"{line}/{station}/{name}"


def content_hash(version: Mapping[str, Any]) -> str:
    """SHA-256 of a version's canonical JSON, its ``approval.sha256`` left out.

    >>> content_hash({"version": 1}) == content_hash({"version": 1, "approval": {"sha256": "x"}})
    False
    >>> len(content_hash({"version": 1}))
    64
    """
    sealed = dict(version)
    approval = sealed.get("approval")
    if isinstance(approval, Mapping):
        sealed["approval"] = {k: v for k, v in approval.items() if k != "sha256"}
    text = json.dumps(sealed, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _aware(text: Any, where: str) -> datetime:
    if not isinstance(text, str):
        raise LimitsFileError(f"{where}: expected an ISO 8601 time as text, got {text!r}")
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise LimitsFileError(f"{where}: {text!r} is not an ISO 8601 time") from None
    if value.tzinfo is None:
        raise LimitsFileError(f"{where}: {text!r} has no time zone (add Z or +00:00)")
    return value


def _check_numbers(value: Any, where: str) -> None:
    """Parameters are finite numbers, or lists/mappings of them (T²'s mean and inverse)."""
    if isinstance(value, bool) or value is None:
        raise LimitsFileError(f"{where}: expected a finite number, got {value!r}")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise LimitsFileError(f"{where}: expected a finite number, got {value!r}")
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check_numbers(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            _check_numbers(item, f"{where}.{key}")
        return
    raise LimitsFileError(f"{where}: expected a finite number, got {value!r}")


class LimitsFile:
    """The versions of one limits file, validated; :meth:`save` writes them back."""

    def __init__(self, path: Path, versions: list[dict[str, Any]] | None = None) -> None:
        self.path = path
        self.versions: list[dict[str, Any]] = versions or []

    # -- reading -------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path) -> LimitsFile:
        """Read and check ``path``: its shape, every stream entry and every approval's hash."""
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise LimitsFileError(f"{path}: cannot read the limits file: {reason}") from None
        try:
            data = yaml.safe_load(text) if _is_yaml(path) else json.loads(text)
        except (yaml.YAMLError, ValueError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise LimitsFileError(f"{path}: not valid {_kind(path)}: {first}") from None
        file = cls(path)
        file._check(data)
        file.versions = list(data["versions"])
        return file

    def _check(self, data: Any) -> None:
        at = str(self.path)
        if not isinstance(data, dict) or data.get("kind") != FILE_KIND:
            raise LimitsFileError(f"{at}: kind: expected {FILE_KIND!r} (is this a limits file?)")
        if data.get("format") != _FORMAT:
            raise LimitsFileError(f"{at}: format: expected {_FORMAT}, got {data.get('format')!r}")
        versions = data.get("versions")
        if not isinstance(versions, list):
            raise LimitsFileError(f"{at}: versions: expected a list")
        for i, version in enumerate(versions):
            where = f"{at}: versions[{i}]"
            if not isinstance(version, dict):
                raise LimitsFileError(f"{where}: expected a mapping")
            number = version.get("version")
            if number != i + 1 or isinstance(number, bool):
                raise LimitsFileError(
                    f"{where}.version: expected {i + 1} (versions count from 1, in order), "
                    f"got {number!r}"
                )
            _aware(version.get("estimated_at"), f"{where}.estimated_at")
            streams = version.get("streams")
            if not isinstance(streams, dict):
                raise LimitsFileError(f"{where}.streams: expected a mapping of streams")
            for key, entry in streams.items():
                self._check_stream(entry, f"{where}.streams[{key!r}]", key)
            approval = version.get("approval")
            if approval is not None:
                self._check_approval(version, approval, f"{where}.approval", number)

    @staticmethod
    def _check_stream(entry: Any, where: str, key: Any) -> None:
        if not isinstance(key, str) or key.count("/") < 2:
            raise LimitsFileError(f"{where}: a stream key is 'line/station/name', got {key!r}")
        if not isinstance(entry, dict):
            raise LimitsFileError(f"{where}: expected a mapping")
        for name in _STREAM_REQUIRED:
            if name not in entry:
                raise LimitsFileError(f"{where}.{name}: missing")
        if not isinstance(entry["chart"], str):
            raise LimitsFileError(f"{where}.chart: expected a chart name")
        params = entry["params"]
        if not isinstance(params, dict) or not params:
            raise LimitsFileError(f"{where}.params: expected a mapping of chart parameters")
        _check_numbers(params, f"{where}.params")
        window = entry["window"]
        if not isinstance(window, dict):
            raise LimitsFileError(f"{where}.window: expected first and last")
        _aware(window.get("first"), f"{where}.window.first")
        _aware(window.get("last"), f"{where}.window.last")

    def _check_approval(self, version: dict[str, Any], approval: Any, where: str, n: int) -> None:
        if not isinstance(approval, dict):
            raise LimitsFileError(f"{where}: expected a mapping")
        by = approval.get("by")
        if not isinstance(by, str) or not by.strip():
            raise LimitsFileError(f"{where}.by: expected the approver's name")
        _aware(approval.get("at"), f"{where}.at")
        _aware(approval.get("effective_from"), f"{where}.effective_from")
        if approval.get("sha256") != content_hash(version):
            raise LimitsFileError(
                f"{where}.sha256: version {n} was changed after its approval "
                "(its content no longer matches the hash); estimate and approve a new version"
            )

    # -- versions ------------------------------------------------------------------------

    def add_version(
        self,
        streams: dict[str, dict[str, Any]],
        estimated_at: datetime,
        **about: str,
    ) -> dict[str, Any]:
        """Append a new, unapproved version (earlier versions are never touched)."""
        version: dict[str, Any] = {
            "version": len(self.versions) + 1,
            "estimated_at": estimated_at.isoformat(),
            **about,
            "streams": streams,
        }
        self.versions.append(version)
        return version

    def approve(
        self, by: str, at: datetime, effective_from: datetime, number: int | None = None
    ) -> dict[str, Any]:
        """Seal version ``number`` (default: the newest) with approver, times and hash."""
        where = str(self.path)
        if not self.versions:
            raise LimitsFileError(f"{where}: versions: the file has no version to approve")
        if not by.strip():
            raise LimitsFileError(f"{where}: --by: the approver's name is empty")
        if effective_from.tzinfo is None or at.tzinfo is None:
            raise LimitsFileError(f"{where}: --effective-from: a time zone is needed")
        if number is None:
            number = len(self.versions)
        if not 1 <= number <= len(self.versions):
            raise LimitsFileError(
                f"{where}: --version: {number} does not exist (versions 1..{len(self.versions)})"
            )
        version = self.versions[number - 1]
        done = version.get("approval")
        if done is not None:
            raise LimitsFileError(
                f"{where}: versions[{number - 1}].approval: version {number} is already "
                f"approved (by {done['by']} at {done['at']}); estimate a new version instead"
            )
        version["approval"] = {
            "by": by.strip(),
            "at": at.isoformat(),
            "effective_from": effective_from.isoformat(),
        }
        version["approval"]["sha256"] = content_hash(version)
        return version

    def effective(self, at: datetime | None = None) -> dict[str, Any]:
        """The approved version in effect at ``at`` (default now): the latest effective_from
        not after it (of equal times, the higher version)."""
        moment = at or datetime.now(UTC)
        approved = [v for v in self.versions if v.get("approval") is not None]
        if not approved:
            raise LimitsFileError(
                f"{self.path}: approval: no version is approved "
                f"(run `linewatch limits approve {self.path} --by NAME`)"
            )
        candidates = [
            (datetime.fromisoformat(v["approval"]["effective_from"]), v["version"], v)
            for v in approved
        ]
        in_effect = [c for c in candidates if c[0] <= moment]
        if not in_effect:
            first = min(candidates, key=lambda c: (c[0], c[1]))
            raise LimitsFileError(
                f"{self.path}: approval.effective_from: no approved version is in effect at "
                f"{moment.isoformat()} (the first, version {first[1]}, takes effect "
                f"{first[0].isoformat()})"
            )
        return max(in_effect, key=lambda c: (c[0], c[1]))[2]

    def seeds(self, at: datetime | None = None) -> dict[tuple[str, str, str], StreamLimits]:
        """Per ``(line, station, name)``, the limits of the version in effect at ``at``."""
        version = self.effective(at)
        effective_from = datetime.fromisoformat(version["approval"]["effective_from"])
        out: dict[tuple[str, str, str], StreamLimits] = {}
        for key, entry in version["streams"].items():
            line, station, name = key.split("/", 2)
            out[(line, station, name)] = StreamLimits(
                entry["chart"], dict(entry["params"]), int(version["version"]), effective_from
            )
        return out

    # -- writing -------------------------------------------------------------------------

    def save(self) -> None:
        """Write all versions (atomically: a temporary file renamed over the old one)."""
        data = {"kind": FILE_KIND, "format": _FORMAT, "versions": self.versions}
        if _is_yaml(self.path):
            text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
        else:
            text = json.dumps(data, indent=2, allow_nan=False) + "\n"
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(self.path)


def _is_yaml(path: Path) -> bool:
    return path.suffix.lower() in (".yaml", ".yml")


def _kind(path: Path) -> str:
    return "YAML" if _is_yaml(path) else "JSON"
