"""Groups, timing and dedup of notifications with Alertmanager's semantics.

Driven by processing time from an injected ``clock`` (never by an alert's event time):

* an alert joins one group per matching route, keyed by the route and its ``group_by``
  labels; a new group waits ``group_wait``, then is looked at every ``group_interval``;
* at each look the group's alerts, minus those silenced or inhibited now, are compared
  with what the receiver was last told: new firing alerts, or (with ``send_resolved``)
  newly resolved ones, or everything resolved, send a notification at once; otherwise
  the same firing set is repeated after ``repeat_interval``;
* resolved alerts leave the group after the look; an empty group is dropped.

Receiver ``lead-on-duty`` is resolved at each look with the shift calendar, so a new shift's
lead, who was told nothing yet, hears of the alerts still firing at the next look.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import msgspec

from linewatch.pipeline.models import Alert, Notification, alert_annotations, alert_labels
from linewatch.pipeline.notify.config import LEAD_ON_DUTY, NotificationsConfig
from linewatch.pipeline.notify.inhibit import Inhibitor
from linewatch.pipeline.notify.routes import Route
from linewatch.pipeline.notify.shifts import ShiftCalendar
from linewatch.pipeline.notify.silences import SilenceStore

__all__ = ["NotificationPolicy", "idempotency_key"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Sent:
    """What one receiver was last told about one group (Alertmanager's nflog entry)."""

    firing: frozenset[str]
    resolved: frozenset[str]
    at: datetime
    sequence: int = 0  # notifications of this group to this receiver before this one


@dataclass(slots=True)
class _Group:
    route: Route
    labels: dict[str, str]
    key: str
    next_look: datetime
    alerts: dict[str, Alert] = field(default_factory=dict)
    sent: dict[str, _Sent] = field(default_factory=dict)


def idempotency_key(receiver: str, group_key: str, alerts: list[Alert], sequence: int) -> str:
    """Stable id of one notification: receiver, group, the alerts' ids and statuses.

    A repeat of the same alerts (``repeat_interval``) is a new notification, so after the
    first one of a group the key carries the group's notification number.

    >>> from datetime import datetime, timezone
    >>> t = datetime(2026, 11, 23, 8, tzinfo=timezone.utc)
    >>> a = Alert(alert_id="f1-1", fingerprint="f1", status="firing", ts=t, starts_at=t,
    ...     ends_at=None, line="L3", station="s", characteristic="c", chart="individuals",
    ...     rule="nelson1", severity="critical", value=1.0, cl=0.0, ucl=0.5, lcl=-0.5, message="m")
    >>> idempotency_key("ops", '{}:{line="L3"}', [a], 0)
    'ops:d2ef319dc25b0850:b3aa9e274ba578a8'
    >>> idempotency_key("ops", '{}:{line="L3"}', [a], 2)
    'ops:d2ef319dc25b0850:b3aa9e274ba578a8:r2'
    """
    content = "\n".join(sorted(f"{a.alert_id}:{a.status}" for a in alerts))
    group = hashlib.sha256(group_key.encode()).hexdigest()[:16]
    body = hashlib.sha256(content.encode()).hexdigest()[:16]
    key = f"{receiver}:{group}:{body}"
    return key if sequence == 0 else f"{key}:r{sequence}"


class NotificationPolicy:
    """Takes alerts as the AlertManager emits them; hands out notifications when due.

    ``add(alert)`` for every firing/resolved alert, then ``due()`` whenever the clock
    may have reached :meth:`next_due` (a runner calls it each loop; cheap when nothing
    is due). Alerts of receivers of type ``alertmanager`` are not grouped here: the
    Alertmanager does that (see ``connectors.receivers.alertmanager``).
    """

    def __init__(
        self,
        config: NotificationsConfig,
        *,
        clock: Callable[[], datetime],
        silences: SilenceStore | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.route = Route.build(config.route)
        self.inhibitor = Inhibitor(config.inhibit_rules)
        self.silences = silences
        self.calendar = ShiftCalendar(config.shifts) if config.shifts else None
        self._receivers = {r.name: r for r in config.receivers}
        self._groups: dict[str, _Group] = {}
        self._firing: dict[str, Alert] = {}  # every firing alert, for inhibition
        self._acknowledged: set[str] = set()

    # -- input -------------------------------------------------------------------------

    def add(self, alert: Alert) -> bool:
        """An alert fired, resolved or changed (the newest version per fingerprint wins).

        True when it opened a group: the only way an alert brings :meth:`next_due` closer
        (a group already open keeps its time), so a notifier need not look again otherwise.
        """
        opened = False
        now = self.clock()
        if alert.status == "firing":
            self._firing[alert.fingerprint] = alert
        else:
            self._firing.pop(alert.fingerprint, None)
            self._acknowledged.discard(alert.fingerprint)
        labels = alert_labels(alert)
        for route in self.route.match(labels):
            group_labels = route.group_labels(labels)
            key = (
                route.key
                + ":{"
                + ",".join(f'{name}="{group_labels[name]}"' for name in sorted(group_labels))
                + "}"
            )
            group = self._groups.get(key)
            if group is None:
                wait = timedelta(seconds=route.group_wait)
                group = _Group(route, group_labels, key, now + wait)
                self._groups[key] = group
                opened = True
            group.alerts[alert.fingerprint] = alert
        return opened

    def acknowledge(self, fingerprint: str) -> None:
        """A person took the firing alert: it stops repeating (new alerts still notify)."""
        if fingerprint in self._firing:
            self._acknowledged.add(fingerprint)

    # -- output ------------------------------------------------------------------------

    def next_due(self) -> datetime | None:
        """When :meth:`due` next has work, or None with no groups."""
        return min((g.next_look for g in self._groups.values()), default=None)

    def due(self) -> list[Notification]:
        """The notifications of every group whose time has come, in group-key order."""
        now = self.clock()
        out: list[Notification] = []
        for key in sorted(self._groups):
            group = self._groups[key]
            if group.next_look > now:
                continue
            notification = self._look(group, now)
            if notification is not None:
                out.append(notification)
            for fp in [fp for fp, a in group.alerts.items() if a.status == "resolved"]:
                del group.alerts[fp]
            if not group.alerts:
                del self._groups[key]
            else:
                group.next_look = now + timedelta(seconds=group.route.group_interval)
        return out

    def muted(self, alert: Alert, now: datetime) -> bool:
        """Silenced or inhibited at ``now``."""
        labels = alert_labels(alert)
        if self.silences is not None and self.silences.silenced(labels, now):
            return True
        if alert.status != "firing" or not self.inhibitor.rules:
            return False
        sources = ((fp, alert_labels(a)) for fp, a in self._firing.items())
        return self.inhibitor.inhibited(labels, alert.fingerprint, sources)

    def _receiver(self, route: Route, now: datetime) -> str | None:
        if route.receiver != LEAD_ON_DUTY:
            return route.receiver
        assert self.calendar is not None  # the config checks this
        lead = self.calendar.lead_at(now)
        if lead is None:
            log.warning("no shift covers %s and there is no fallback lead", now.isoformat())
        return lead

    def _look(self, group: _Group, now: datetime) -> Notification | None:
        receiver = self._receiver(group.route, now)
        if receiver is None:
            return None
        settings = self._receivers[receiver]
        alerts = [a for a in group.alerts.values() if not self.muted(a, now)]
        firing = frozenset(a.fingerprint for a in alerts if a.status == "firing")
        resolved = frozenset(a.fingerprint for a in alerts if a.status == "resolved")
        last = group.sent.get(receiver)
        if last is None:
            send = bool(firing)
        elif not firing <= last.firing:
            send = True
        elif not firing:
            send = bool(last.firing)
        elif settings.send_resolved and not resolved <= last.resolved:
            send = True
        else:  # nothing new: repeat, unless every firing alert was acknowledged
            waited = now - last.at >= timedelta(seconds=group.route.repeat_interval)
            send = waited and bool(firing - self._acknowledged)
        if not send:
            return None
        sequence = 0 if last is None else last.sequence + 1
        group.sent[receiver] = _Sent(firing, resolved, now, sequence)
        shown = [a for a in alerts if a.status == "firing" or settings.send_resolved]
        if not shown:
            return None  # all resolved, receiver does not want resolved: just remembered
        shown.sort(key=lambda a: (a.starts_at, a.fingerprint))
        limit = settings.max_alerts
        kept = shown[:limit] if limit else shown
        labels = [alert_labels(a) for a in shown]
        notes = [alert_annotations(a) for a in shown]
        return Notification(
            key=idempotency_key(receiver, group.key, shown, sequence),
            receiver=receiver,
            status="firing" if any(a.status == "firing" for a in shown) else "resolved",
            group_key=group.key,
            group_labels=dict(group.labels),
            common_labels=_common(labels),
            common_annotations=_common(notes),
            alerts=kept,
            truncated=len(shown) - len(kept),
            created_at=now,
        )

    # -- state -------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Groups, what each receiver was told, and acknowledgements; JSON-able.

        Restored after a restart, a group does not tell its receivers again what they
        already heard (without it, the first look re-sends the firing alerts, under the
        same idempotency key only if the group's content is unchanged).
        """
        return {
            "groups": {
                key: {
                    "route": g.route.key,
                    "labels": g.labels,
                    "next_look": g.next_look.isoformat(),
                    "alerts": [msgspec.to_builtins(a) for a in g.alerts.values()],
                    "sent": {
                        receiver: {
                            "firing": sorted(e.firing),
                            "resolved": sorted(e.resolved),
                            "at": e.at.isoformat(),
                            "sequence": e.sequence,
                        }
                        for receiver, e in g.sent.items()
                    },
                }
                for key, g in self._groups.items()
            },
            "acknowledged": sorted(self._acknowledged),
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Take back a :meth:`snapshot`; groups of routes no longer configured are re-routed."""
        routes = {r.key: r for r in _walk(self.route)}
        for key, saved in state.get("groups", {}).items():
            alerts = [msgspec.convert(a, Alert) for a in saved["alerts"]]
            route = routes.get(saved["route"])
            if route is None:
                for alert in alerts:
                    self.add(alert)
                continue
            group = _Group(
                route, dict(saved["labels"]), key, datetime.fromisoformat(saved["next_look"])
            )
            group.alerts = {a.fingerprint: a for a in alerts}
            group.sent = {
                receiver: _Sent(
                    frozenset(e["firing"]),
                    frozenset(e["resolved"]),
                    datetime.fromisoformat(e["at"]),
                    int(e["sequence"]),
                )
                for receiver, e in saved["sent"].items()
            }
            self._groups[key] = group
            for alert in alerts:
                if alert.status == "firing":
                    self._firing[alert.fingerprint] = alert
        self._acknowledged.update(state.get("acknowledged", ()))

    @property
    def groups(self) -> Mapping[str, list[Alert]]:
        """The alerts of each group, for a status page."""
        return {k: list(g.alerts.values()) for k, g in self._groups.items()}


def _walk(route: Route) -> list[Route]:
    return [route, *(r for child in route.children for r in _walk(child))]


def _common(items: list[dict[str, str]]) -> dict[str, str]:
    if not items:
        return {}
    first = items[0]
    return {k: v for k, v in first.items() if all(other.get(k) == v for other in items[1:])}
