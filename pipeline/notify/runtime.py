"""The notifier: a sink beside the AlertManager that hands alerts to people, on time.

:class:`Notifier` takes the job's ``alerts`` route. The runner thread only feeds alerts in
(:meth:`Notifier.add`: the policy and the Alertmanager pushers); a worker thread with its
own asyncio loop does the rest, woken by the policy's timers even when no record arrives
(a ``group_wait`` fires on time on a quiet line):

1. read the acknowledgements ``linewatch serve`` appended to ``annotations.jsonl`` and
   reload the silences file if it changed;
2. take the due notifications (policy groups, pushes) and store them in the durable spool;
3. save ``notify-state.json`` (atomically) with the policy's groups, the firing alerts and
   the pushed ones; only after step 2, so a notification the state says was sent is in
   the spool;
4. send what the spool holds (retries with backoff; a crash resends at the next start).

:meth:`Notifier.flush` (each checkpoint) waits for a cycle in progress and saves the state
in the caller's thread, so what the checkpoint covers is in the spool or the state file; it
never waits for a delivery. An alert wakes the worker only when it opens a group (or a
pusher takes it): one joining an open group is due no sooner, so the state file is
written once per cycle, not once per alert. At the end of a finite input
:meth:`Notifier.drain` waits (at most ``delivery.drain``) for each group's next look and
its delivery; after SIGTERM the job does not linger: the next start sends the rest.

Event time drives the alerts' lifecycle; processing time (``clock``, the wall clock by
default) drives notification timing. With ``event_clock=True`` the clock is instead the
newest event time seen (the job routes chart points here too) and everything runs in the
caller's thread: a replay then notifies as the live line would have, which is how the
notifications per day of the README are measured.

Pushes to a real Alertmanager carry ``startsAt`` = the processing time Linewatch first
emitted the alert and, on resolve, ``endsAt`` = the processing time of the resolve:
Alertmanager groups by arrival, so alerts stamped hours back in event time (a phase I)
would each go out at once on their own, and a resolve must not lie in its future.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

from linewatch.connectors.receivers import Delivery
from linewatch.connectors.spool import SpoolFull
from linewatch.pipeline.models import Alert, ChartPoint, Notification, Output, WireRecord
from linewatch.pipeline.notify.annotations import ANNOTATIONS_FILE, AnnotationLog
from linewatch.pipeline.notify.build import build_delivery, build_pushers, build_receivers
from linewatch.pipeline.notify.config import NotificationsConfig
from linewatch.pipeline.notify.policy import NotificationPolicy
from linewatch.pipeline.notify.silences import SilenceError, SilenceStore

__all__ = ["STATE_FILE", "Notifier", "read_state", "write_json_atomic"]

log = logging.getLogger(__name__)

STATE_FILE = "notify-state.json"
#: The worker looks at the annotations and silences files at least this often.
_POLL_S = 0.5


def _wall() -> datetime:
    return datetime.now(UTC)


def write_json_atomic(path: Path, data: Any) -> None:
    """Temporary file, fsync, rename: a crash leaves the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as out:
        out.write(msgspec.json.encode(data))
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(path)


def read_state(state_dir: Path) -> dict[str, Any] | None:
    """The notifier's saved state, or None before the first save."""
    path = Path(state_dir) / STATE_FILE
    try:
        data: dict[str, Any] = msgspec.json.decode(path.read_bytes())
    except FileNotFoundError:
        return None
    except msgspec.DecodeError as exc:
        raise ValueError(f"{path}: not a notifier state file ({exc})") from None
    return data


class _EventClock:
    def __init__(self) -> None:
        self.now: datetime | None = None

    def advance(self, ts: datetime) -> None:
        if self.now is None or ts > self.now:
            self.now = ts

    def __call__(self) -> datetime:
        return self.now or _wall()


class Notifier:
    """A :class:`~linewatch.pipeline.models.Sink` for ``alerts`` that notifies people."""

    def __init__(
        self,
        config: NotificationsConfig,
        *,
        env: Mapping[str, str] | None = None,
        state_dir: Path | None = None,
        restore: bool = True,
        clock: Callable[[], datetime] | None = None,
        event_clock: bool = False,
    ) -> None:
        self.config = config
        self.state_dir = Path(state_dir or config.state_dir)
        self._event_clock = _EventClock() if event_clock else None
        self.clock: Callable[[], datetime] = self._event_clock or clock or _wall
        self.silences = SilenceStore(config.silences_path)
        self._silences_stamp = self._stamp(config.silences_path)
        self.policy = NotificationPolicy(config, clock=self.clock, silences=self.silences)
        self.pushers = build_pushers(config, self.clock)
        receivers = build_receivers(config, os.environ if env is None else env)
        self.delivery: Delivery = build_delivery(config, receivers, self.clock)
        self.annotations = AnnotationLog(self.state_dir / ANNOTATIONS_FILE)
        self._annotations_offset = 0
        self.firing: dict[str, Alert] = {}  # what serve lists
        self._pushed: dict[str, Alert] = {}  # firing alerts as pushed (processing times)
        self._outbox: list[Notification] = []  # due, not yet in the spool (spool full)
        self.submitted = 0
        self._lock = threading.Lock()  # policy, pushers, firing: runner thread vs worker
        # A cycle's steps 1-3 and a checkpoint's state save: one at a time, never halfway.
        self._cycle_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = False
        self._changed = True
        if restore:
            self._restore()
        self._loop = asyncio.new_event_loop() if event_clock else None
        self._thread: threading.Thread | None = None
        if not event_clock:
            self._thread = threading.Thread(target=self._work, name="notifier", daemon=True)
            self._thread.start()

    # -- the runner's side ------------------------------------------------------------------

    def add(self, item: Output | WireRecord) -> None:
        if self._event_clock is not None and isinstance(item, Alert | ChartPoint):
            self._event_clock.advance(item.ts)
        if isinstance(item, Alert):
            with self._lock:
                look = self._take(item)
            if look:
                self._wake.set()
        if self._event_clock is not None and self._due_now():
            self._cycle()
            assert self._loop is not None
            self._loop.run_until_complete(self.delivery.send_due())

    def _take(self, alert: Alert) -> bool:
        """Feed one alert in; True if the worker should look now (else its timer will)."""
        now = self.clock()
        opened = self.policy.add(alert)
        if alert.status == "firing":
            self.firing[alert.fingerprint] = alert
            pushed = self._pushed.get(alert.fingerprint)
            if pushed is None or pushed.alert_id != alert.alert_id:
                pushed = msgspec.structs.replace(alert, starts_at=now)
                self._pushed[alert.fingerprint] = pushed
        else:
            self.firing.pop(alert.fingerprint, None)
            earlier = self._pushed.pop(alert.fingerprint, None)
            started = earlier.starts_at if earlier is not None else now
            pushed = msgspec.structs.replace(alert, starts_at=started, ends_at=now)
        for pusher in self.pushers:
            pusher.add(pushed)
        self._changed = True
        # An alert joining an open group changes nothing due sooner: waking the worker for
        # it would rewrite the state file per alert. Pushers are due per alert.
        return opened or bool(self.pushers)

    def flush(self) -> None:
        """Wait until the alerts added so far are in the spool or the state file.

        In the caller's thread: wait for a cycle in progress (its notifications taken
        from the policy reach the spool before its state is saved), then save the state
        if it changed. Never waits for a delivery: a checkpoint costs one state write.
        """
        if self._thread is None:
            self._cycle()
            return
        if not self._thread.is_alive():
            return
        with self._cycle_lock:
            self._save_state()

    def _last_look(self) -> datetime | None:
        with self._lock:
            groups = self.policy.snapshot()["groups"].values()
            return max((datetime.fromisoformat(g["next_look"]) for g in groups), default=None)

    def drain(self, stopped: Callable[[], bool] = lambda: False) -> None:
        """End of a finite input: wait for each group's next look and its delivery.

        ``stopped`` (SIGTERM arrived meanwhile) ends the wait early.
        """
        last_look = self._last_look()
        if self._thread is None:
            if last_look is not None and self._event_clock is not None:
                self._event_clock.advance(last_look)
            self._cycle()
            assert self._loop is not None
            self._loop.run_until_complete(self.delivery.send_due())
            return
        deadline = _wall() + timedelta(seconds=self.config.delivery.drain)
        while _wall() < deadline and self._thread.is_alive() and not stopped():
            looked = last_look is None or self.clock() >= last_look
            self._wake.set()
            self.flush()
            if looked and not self._outbox and self.delivery.pending == 0:
                return
            threading.Event().wait(0.05)
        log.warning(
            "notifications: %d not delivered within the drain time; the next start sends them",
            self.delivery.pending + len(self._outbox),
        )

    def close(self) -> None:
        """Stop the worker after one last cycle; the spool keeps what was not delivered."""
        if self._thread is not None:
            self._stop = True
            self._wake.set()
            self._thread.join(timeout=30)
            self._thread = None
            return
        assert self._loop is not None
        self._cycle()
        self._loop.run_until_complete(self.delivery.send_due())
        self._loop.run_until_complete(self.delivery.aclose())
        self._loop.close()

    # -- the worker -------------------------------------------------------------------------

    def _work(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            while True:
                self._wake.clear()
                self._cycle()
                loop.run_until_complete(self.delivery.send_due())
                if self._stop:
                    break
                self._wake.wait(self._seconds_to_next())
        except Exception:  # never silently: the job's log says why notifications stopped
            log.exception("the notifier stopped; the spool keeps what was not delivered")
        finally:
            loop.run_until_complete(self.delivery.aclose())
            loop.close()

    def _seconds_to_next(self) -> float:
        now = self.clock()
        with self._lock:
            times = [self.policy.next_due(), *(p.next_due() for p in self.pushers)]
        times.append(self.delivery.next_attempt())
        waits = [(t - now).total_seconds() for t in times if t is not None]
        return max(0.0, min([_POLL_S, *waits]))

    def _due_now(self) -> bool:
        now = self.clock()
        with self._lock:
            times = [self.policy.next_due(), *(p.next_due() for p in self.pushers)]
        return any(t is not None and t <= now for t in times)

    def _cycle(self) -> None:
        with self._cycle_lock:
            self._read_annotations()
            self._reload_silences()
            with self._lock:
                self._outbox += self.policy.due() + [n for p in self.pushers for n in p.due()]
            taken = 0
            try:
                for notification in self._outbox:
                    self.delivery.submit(notification, sync=False)
                    taken += 1
            except SpoolFull as exc:
                log.warning("notify spool full (%s); %d wait", exc, len(self._outbox) - taken)
            finally:
                self.delivery.sync()  # one directory fsync for the cycle's notifications
            if taken:
                del self._outbox[:taken]
                self.submitted += taken
                self._changed = True
            self._save_state()

    def _save_state(self) -> None:
        """One atomic write of everything changed since the last (caller holds the cycle lock)."""
        if not self._changed:
            return
        with self._lock:
            state = self._state()
            self._changed = False
        write_json_atomic(self.state_dir / STATE_FILE, state)

    def _read_annotations(self) -> None:
        found, self._annotations_offset = self.annotations.read_from(self._annotations_offset)
        if not found:
            return
        with self._lock:
            for note in found:
                current = self.firing.get(note.fingerprint)
                if current is not None and current.alert_id == note.alert_id:
                    self.policy.acknowledge(note.fingerprint)
            self._changed = True

    @staticmethod
    def _stamp(path: Path) -> tuple[int, int] | None:
        try:
            info = path.stat()
        except FileNotFoundError:
            return None
        return (info.st_mtime_ns, info.st_size)

    def _reload_silences(self) -> None:
        stamp = self._stamp(self.config.silences_path)
        if stamp == self._silences_stamp:
            return
        try:
            store = SilenceStore(self.config.silences_path)
        except SilenceError as exc:
            log.error("silences not reloaded: %s", exc)
            return
        self._silences_stamp = stamp
        with self._lock:
            self.silences = self.policy.silences = store

    # -- state ------------------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        return {
            "version": 1,
            "saved_at": _wall().isoformat(),
            "policy": self.policy.snapshot(),
            "firing": [msgspec.to_builtins(a) for a in self.firing.values()],
            "pushed": [msgspec.to_builtins(a) for a in self._pushed.values()],
            "annotations_offset": self._annotations_offset,
        }

    def _restore(self) -> None:
        state = read_state(self.state_dir)
        if state is None:
            return
        self.policy.restore(state.get("policy", {}))
        for saved in state.get("firing", []):
            alert = msgspec.convert(saved, Alert)
            self.firing[alert.fingerprint] = alert
        for saved in state.get("pushed", []):
            alert = msgspec.convert(saved, Alert)
            self._pushed[alert.fingerprint] = alert
            for pusher in self.pushers:
                pusher.add(alert)
        self._annotations_offset = int(state.get("annotations_offset", 0))
