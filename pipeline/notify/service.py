"""What ``linewatch serve`` does, without HTTP: firing alerts, acknowledgements, causes, silences.

It reads what the running job's notifier writes (``notify-state.json`` in the notify state
dir: the firing alerts) and writes what the notifier reads (``annotations.jsonl``; the
silences file). Each acknowledgement or cause is also written to InfluxDB's
``alert_annotation`` measurement when the config has an InfluxDB sink, so the SPC chart
board shows it; InfluxDB being away does not lose it (the local file has it, and the
answer says so).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

from linewatch.pipeline.config import Config, ConfigError, InfluxSinkConfig, load_config
from linewatch.pipeline.models import Alert, AlertAnnotation, alert_labels
from linewatch.pipeline.notify.annotations import ANNOTATIONS_FILE, AnnotationLog
from linewatch.pipeline.notify.config import NotificationsConfig, parse_duration
from linewatch.pipeline.notify.runtime import read_state
from linewatch.pipeline.notify.silences import Silence, SilenceError, SilenceStore

__all__ = ["AlertService", "RequestError", "load_service"]


class RequestError(ValueError):
    """A request that cannot be done; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _text(body: Mapping[str, Any], name: str, required: bool = False) -> str:
    value = body.get(name, "")
    if not isinstance(value, str):
        raise RequestError(f"field {name!r} must be a string")
    if required and not value.strip():
        raise RequestError(f"field {name!r} is required")
    return value.strip()


def _time(body: Mapping[str, Any], name: str) -> datetime | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise RequestError(f"field {name!r}: {value!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise RequestError(f"field {name!r}: {value!r} needs a time zone")
    return parsed


class AlertService:
    def __init__(
        self, config: Config, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        if config.notifications is None:
            raise ValueError("the config has no 'notifications' section")
        self.config = config
        self.notifications: NotificationsConfig = config.notifications
        self.clock = clock
        self.annotations = AnnotationLog(self.notifications.state_dir / ANNOTATIONS_FILE)

    @property
    def causes(self) -> list[str]:
        return list(self.notifications.causes)

    def silences(self) -> SilenceStore:
        """Read afresh each time: the CLI and other processes write the same file."""
        return SilenceStore(self.notifications.silences_path)

    # -- alerts -------------------------------------------------------------------------------

    def firing(self) -> list[Alert]:
        state = read_state(self.notifications.state_dir) or {}
        alerts = [msgspec.convert(a, Alert) for a in state.get("firing", [])]
        return sorted(alerts, key=lambda a: (a.starts_at, a.fingerprint))

    def alerts(self) -> list[dict[str, Any]]:
        """Firing alerts with their acknowledgement, causes and the silences muting them."""
        now = self.clock()
        notes: dict[str, list[AlertAnnotation]] = {}
        for note in self.annotations.all():
            notes.setdefault(note.alert_id, []).append(note)
        store = self.silences()
        listed = []
        for alert in self.firing():
            mine = notes.get(alert.alert_id, [])
            listed.append(
                {
                    **msgspec.to_builtins(alert),
                    "labels": alert_labels(alert),
                    "acknowledged": bool(mine),
                    "annotations": [msgspec.to_builtins(n) for n in mine],
                    "silenced_by": store.silenced_by(alert_labels(alert), now),
                }
            )
        return listed

    def annotate(self, fingerprint: str, kind: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Acknowledge (``ack``) or record the cause (``cause``) of a firing alert."""
        found = {a.fingerprint: a for a in self.firing()}.get(fingerprint)
        if found is None:
            raise RequestError(f"no firing alert with fingerprint {fingerprint!r}", 404)
        cause = action = ""
        if kind == "cause":
            cause = _text(body, "cause", required=True)
            if cause not in self.notifications.causes:
                known = "; ".join(self.notifications.causes)
                raise RequestError(f"cause {cause!r} is not in the cause list ({known})")
            action = _text(body, "action")
        note = AlertAnnotation(
            ts=self.clock(),
            line=found.line,
            station=found.station,
            characteristic=found.characteristic,
            rule=found.rule,
            alert_id=found.alert_id,
            fingerprint=found.fingerprint,
            kind="cause" if kind == "cause" else "ack",
            author=_text(body, "author", required=True),
            cause=cause,
            action=action,
            text=_text(body, "text"),
        )
        self.annotations.append(note)
        return {"annotation": msgspec.to_builtins(note), "influxdb": self._to_influx(note)}

    def _to_influx(self, note: AlertAnnotation) -> list[str]:
        """``ok`` or the error, per InfluxDB sink of the config."""
        from linewatch.connectors.influxdb import InfluxSink
        from linewatch.pipeline.models import SinkError

        results = []
        for sink_config in self.config.sinks:
            if not isinstance(sink_config, InfluxSinkConfig):
                continue
            try:
                options: dict[str, Any] = {"retry_for_s": 2.0}
                if sink_config.spool_dir is not None:  # the job's spool: it sends leftovers
                    options["spool_dir"] = sink_config.spool_dir
                sink = InfluxSink.from_url(sink_config.url, **options)
                try:
                    sink.add(note)
                    sink.flush()
                finally:
                    sink.close()
                results.append("ok")
            except (SinkError, ValueError, OSError) as exc:
                results.append(f"not written: {exc}")
        return results

    # -- silences -----------------------------------------------------------------------------

    def create_silence(self, body: Mapping[str, Any]) -> Silence:
        matchers = body.get("matchers")
        if not isinstance(matchers, list) or not all(isinstance(m, str) for m in matchers):
            raise RequestError("field 'matchers' must be a list of strings like 'line=L3'")
        now = self.clock()
        starts = _time(body, "starts_at") or now
        ends = _time(body, "ends_at")
        if ends is None:
            duration = body.get("duration")
            if duration is None:
                raise RequestError("give 'ends_at' or 'duration' (like 2h)")
            try:
                seconds = float(parse_duration(duration))
            except (ValueError, TypeError) as exc:
                raise RequestError(f"field 'duration': {exc}") from None
            ends = starts + timedelta(seconds=seconds)
        try:
            return self.silences().add(
                matchers,
                starts,
                ends,
                created_by=_text(body, "created_by", required=True),
                comment=_text(body, "comment"),
                now=now,
            )
        except SilenceError as exc:
            raise RequestError(str(exc)) from None

    def expire_silence(self, silence_id: str) -> Silence:
        try:
            return self.silences().expire(silence_id, self.clock())
        except SilenceError as exc:
            raise RequestError(str(exc), 404) from None

    def list_silences(self) -> list[dict[str, Any]]:
        now = self.clock()
        return [{**msgspec.to_builtins(s), "state": s.state(now)} for s in self.silences().all()]


def load_service(config_path: Path) -> AlertService | str:
    """The service for a config file, or a one-line reason it cannot be built."""
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        return f"invalid configuration: {'; '.join(exc.problems)}"
    if config.notifications is None:
        return f"{config_path}: the config has no 'notifications' section"
    return AlertService(config)
