"""Notifications end to end: ``linewatch run``/``replay`` on a slice of the demo line, real
HTTP receivers on 127.0.0.1, and a real Alertmanager in between.

The slices are the first 4000 and 6000 records of ``examples/welding-line.jsonl.gz``, charted
by ``notify-line.yaml`` (the demo config before its false-alarm rework). Their alerts (from the JSONL sink of a plain replay, event time, so the same every time):

* records 1-4000: ``trim_length_mm`` nelson1 (stdev), ``welder-07`` t2 and the equipment
  model on ``welder-07-health`` (the same weld-current excursion) fire and resolve,
  ``welder-07/weld_current_ka`` nelson1 (stdev) fires;
* records 4001-6000: ``electrode_force_kn`` nelson7 and ``hydraulic_pressure_bar`` nelson1
  (xbar) fire and resolve (phase-I backfill), ``weld_current_ka`` resolves,
  ``hydraulic_pressure_bar`` nelson1 (stdev) and ``nugget_dia_mm`` nelson1 (xbar) fire.

A second ``run`` on the grown file resumes from the checkpoint of the first one, as a
restarted job does; what the notifier told the receiver survives in its state file.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from linewatch.connectors.testing.alertmanager import AlertmanagerServer
from linewatch.connectors.testing.webhook import WebhookReceiver
from linewatch.pipeline.cli import main
from tests.conftest import repo_root

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

#: The demo line's detectors before the false-alarm rework: their alerts are pinned below.
NOTIFY_LINE = Path(__file__).with_name("notify-line.yaml")
WAIT = {"group_wait": "5s", "group_interval": "10s", "repeat_interval": "1h"}
FIRST = {
    ("resolved", "trim_length_mm", "nelson1"),
    ("resolved", "welder-07", "t2"),
    ("resolved", "welder-07-health", "model:equipment"),
    ("firing", "welder-07/weld_current_ka", "nelson1"),
}
SECOND = {
    ("resolved", "welder-07/electrode_force_kn", "nelson7"),
    ("resolved", "trim-press-03/hydraulic_pressure_bar", "nelson1"),
    ("resolved", "welder-07/weld_current_ka", "nelson1"),
    ("firing", "trim-press-03/hydraulic_pressure_bar", "nelson1"),
    ("firing", "nugget_dia_mm", "nelson1"),
}


def slice_of(tmp_path: Path, records: int) -> Path:
    """The first ``records`` of the demo line, in ONE file that grows (a resumed run
    must read the file its checkpoint was saved for)."""
    path = tmp_path / "line.jsonl"
    with gzip.open(repo_root() / "examples" / "welding-line.jsonl.gz", "rt") as source:
        lines = [next(source) for _ in range(records)]
    path.write_text("".join(lines))
    return path


def write_config(folder: Path, receivers: list[dict[str, Any]], route: dict[str, Any]) -> Path:
    config = yaml.safe_load(NOTIFY_LINE.read_text())
    config.pop("simulation", None)
    config["source"] = None
    config["sinks"] = [{"type": "jsonl", "path": str(folder / "alerts.jsonl")}]
    config["dead_letters"] = {"path": str(folder / "dead-letters.jsonl")}
    config["checkpoint"] = {"every_records": 1000, "state_dir": str(folder / "state")}
    config["notifications"] = {
        "receivers": receivers,
        "route": route,
        "state_dir": str(folder / "notify"),
        "silences_path": str(folder / "silences.json"),
        "delivery": {"spool_dir": str(folder / "spool"), "drain": "30s"},
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def alerts_in(folder: Path) -> list[dict[str, Any]]:
    lines = (folder / "alerts.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def shown(body: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (a["status"], a["labels"]["characteristic"], a["labels"]["rule"]) for a in body["alerts"]
    }


def test_run_notifies_a_webhook_grouped_then_resolved(tmp_path: Path) -> None:
    with WebhookReceiver() as hook:
        config = write_config(
            tmp_path,
            [{"name": "lead", "type": "webhook", "url": hook.url + "/hook"}],
            {"receiver": "lead", "group_by": ["line"], **WAIT},
        )
        run = ["run", "--config", str(config), "--input"]
        assert main([*run, str(slice_of(tmp_path, 4000))]) == 0
        first = hook.wait_for(1, timeout=30)
        assert main([*run, str(slice_of(tmp_path, 6000))]) == 0
        time.sleep(1.0)  # nothing more may come
        bodies = [r.json() for r in hook.received]
    assert len(bodies) == 2, [shown(b) for b in bodies]
    one, two = bodies
    assert first[0].path == "/hook"
    assert first[0].headers["Content-Type"] == "application/json"
    assert set(one) == {
        "version",
        "groupKey",
        "truncatedAlerts",
        "status",
        "receiver",
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
        "externalURL",
        "alerts",
    }
    assert (one["version"], one["status"], one["receiver"]) == ("4", "firing", "lead")
    assert one["groupKey"] == '{}:{line="L3"}' and one["groupLabels"] == {"line": "L3"}
    assert one["commonLabels"] == {"line": "L3"} and one["truncatedAlerts"] == 0
    # One notification for the group, not one per alert; resolved ones ride along.
    assert shown(one) == FIRST and len(one["alerts"]) == 4
    for alert in one["alerts"]:
        assert set(alert) == {
            "status",
            "labels",
            "annotations",
            "startsAt",
            "endsAt",
            "generatorURL",
            "fingerprint",
        }
    resolved = {a["labels"]["characteristic"]: a for a in one["alerts"]}["trim_length_mm"]
    assert resolved["startsAt"] == "2026-11-02T08:32:05.705535Z"  # event time
    assert resolved["endsAt"] == "2026-11-02T09:34:36.334714Z"
    # After the restart: the receiver is not told again what it heard; the resolve comes.
    assert two["status"] == "firing" and shown(two) == SECOND


def test_replay_sends_nothing_unless_asked(tmp_path: Path) -> None:
    with WebhookReceiver() as hook:
        config = write_config(
            tmp_path,
            [{"name": "lead", "type": "webhook", "url": hook.url}],
            {"receiver": "lead", "group_by": ["line"], **WAIT},
        )
        replay = ["replay", "--config", str(config), "--input", str(slice_of(tmp_path, 4000))]
        assert main([*replay, "--out", str(tmp_path / "quiet"), "--no-progress"]) == 0
        assert hook.received == [] and not (tmp_path / "spool").exists()
        # Without notifications no processing time is stamped: outputs are reproducible.
        assert {a["emitted_at"] for a in alerts_in(tmp_path)} == {None}
        out = tmp_path / "loud"
        assert main([*replay, "--out", str(out), "--no-progress", "--notify"]) == 0
        bodies = [r.json() for r in hook.wait_for(1, timeout=30)]
    assert len(bodies) == 1 and shown(bodies[0]) == FIRST
    assert None not in {a["emitted_at"] for a in alerts_in(tmp_path)}
    assert (out / "notify" / "notify-state.json").exists()  # beside the replay's outputs


def notifications_of(hook: WebhookReceiver, since: int) -> list[dict[str, Any]]:
    bodies = [r.json() for r in hook.received[since:]]
    return [b for b in bodies if b.get("commonLabels", {}).get("line") == "L3"]


@pytest.fixture
def alertmanager_webhook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as hook:
        yield hook


@pytest.fixture
def alertmanager_server(
    tmp_path_factory: pytest.TempPathFactory, alertmanager_webhook: WebhookReceiver
) -> Iterator[AlertmanagerServer]:
    """The plugin's Alertmanager, with 5 s waits: a loaded machine still fits a run's
    alerts in one group_wait."""
    with AlertmanagerServer(
        tmp_path_factory.mktemp("am"),
        webhook_url=alertmanager_webhook.url,
        group_wait="5s",
        group_interval="5s",
    ) as server:
        yield server


def test_alerts_pushed_to_a_real_alertmanager_arrive_grouped_and_resolve(
    tmp_path: Path,
    alertmanager_server: AlertmanagerServer,
    alertmanager_webhook: WebhookReceiver,
) -> None:
    """Linewatch → Alertmanager 0.35 (group_by alertname, 5 s waits) → webhook.

    The push sets ``startsAt`` to the processing time Linewatch emitted the alert: the
    slice's event times are weeks old, and Alertmanager would send each such alert at
    once on its own. The resend interval is long (endsAt 120 s ahead), so the resolve
    seen is Linewatch's own push, not Alertmanager timing the alert out.
    """
    since = len(alertmanager_webhook.received)
    with WebhookReceiver() as local:
        config = write_config(
            tmp_path,
            [
                {"name": "log", "type": "webhook", "url": local.url},
                {
                    "name": "am",
                    "type": "alertmanager",
                    "url": alertmanager_server.url,
                    "resend_interval": "30s",
                },
            ],
            {"receiver": "log", "group_by": ["line"], **WAIT},
        )
        run = ["run", "--config", str(config), "--input"]
        started = datetime.now(UTC)
        assert main([*run, str(slice_of(tmp_path, 4000))]) == 0
        deadline = time.monotonic() + 30
        while not notifications_of(alertmanager_webhook, since) and time.monotonic() < deadline:
            time.sleep(0.2)
        first = notifications_of(alertmanager_webhook, since)
        assert len(first) == 1, [shown(b) for b in first]
        # trim_length_mm and weld_current_ka (both nelson1) in ONE notification of the group
        # alertname=nelson1; t2 fired and resolved before Alertmanager's group_wait ended,
        # so it is never notified (Alertmanager tells nobody of an alert already gone).
        assert first[0]["groupLabels"] == {"alertname": "nelson1"}
        assert shown(first[0]) == {
            ("resolved", "trim_length_mm", "nelson1"),
            ("firing", "welder-07/weld_current_ka", "nelson1"),
        }
        for alert in first[0]["alerts"]:
            assert datetime.fromisoformat(alert["startsAt"]) >= started  # processing time
        resumed = datetime.now(UTC)
        assert main([*run, str(slice_of(tmp_path, 6000))]) == 0
        ended = datetime.now(UTC)
        deadline = time.monotonic() + 30
        current: dict[str, Any] = {}
        while time.monotonic() < deadline:
            for body in notifications_of(alertmanager_webhook, since):
                for alert in body["alerts"]:
                    if alert["labels"]["characteristic"] == "welder-07/weld_current_ka":
                        current = alert
            if current.get("status") == "resolved":
                break
            time.sleep(0.2)
    assert current["status"] == "resolved", current
    assert resumed <= datetime.fromisoformat(current["endsAt"]) <= ended
    assert current["labels"] == {
        "alertname": "nelson1",
        "line": "L3",
        "station": "weld-2",
        "characteristic": "welder-07/weld_current_ka",
        "chart": "stdev",
        "rule": "nelson1",
        "severity": "critical",
    }


def test_receiver_down_then_the_job_killed_then_restarted_delivers_once(tmp_path: Path) -> None:
    """The receiver refuses (503): the notification waits in the spool; ``kill -9`` the job
    while it retries; the receiver comes back; the restarted job (no new records) sends it,
    exactly once, with the key the refused attempts carried."""
    with WebhookReceiver(status=503) as hook:
        config = write_config(
            tmp_path,
            [{"name": "lead", "type": "webhook", "url": hook.url}],
            {"receiver": "lead", "group_by": ["line"], **WAIT},
        )
        command = [sys.executable, "-m", "linewatch.pipeline.cli", "run", "--config"]
        command += [str(config), "--input", str(slice_of(tmp_path, 4000))]
        env = {**os.environ, "PYTHONPATH": str(repo_root())}
        job = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
        try:
            hook.wait_for(2, timeout=90)  # a first attempt and a retry, both refused
        finally:
            job.kill()  # SIGKILL: no clean shutdown
            job.wait(timeout=30)
        assert job.returncode == -signal.SIGKILL
        refused = list(hook.received)
        keys = {r.headers["Idempotency-Key"] for r in refused}
        assert len(keys) == 1
        hook.status = 200
        restarted = subprocess.run(command, env=env, capture_output=True, timeout=120)
        assert restarted.returncode == 0, restarted.stderr.decode()[-2000:]
        time.sleep(1.0)
        accepted = hook.received[len(refused) :]
    assert [r.headers["Idempotency-Key"] for r in accepted] == list(keys)
    assert accepted[0].body == refused[0].body and shown(accepted[0].json()) == FIRST


def test_sigterm_stops_a_notifying_run_cleanly_with_its_groups_saved(tmp_path: Path) -> None:
    """A live source (the simulator, endless): SIGTERM checkpoints and stops without
    lingering for the groups; the notifier's state is saved for the next start."""
    with WebhookReceiver() as hook:
        config = yaml.safe_load(NOTIFY_LINE.read_text())
        config["source"] = {"type": "simulator", "minutes": 500_000, "batch_size": 500}
        config["sinks"] = [{"type": "jsonl", "path": str(tmp_path / "alerts.jsonl")}]
        config["dead_letters"] = {"path": str(tmp_path / "dead-letters.jsonl")}
        config["checkpoint"] = {"every_seconds": 0.5, "state_dir": str(tmp_path / "state")}
        config["notifications"] = {
            "receivers": [{"name": "lead", "type": "webhook", "url": hook.url}],
            "route": {"receiver": "lead", "group_wait": "1h"},  # nothing is due before the stop
            "state_dir": str(tmp_path / "notify"),
            "silences_path": str(tmp_path / "silences.json"),
            "delivery": {"spool_dir": str(tmp_path / "spool")},
        }
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        command = [sys.executable, "-m", "linewatch.pipeline.cli", "run", "--config", str(path)]
        env = {**os.environ, "PYTHONPATH": str(repo_root())}
        job = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
        state = tmp_path / "notify" / "notify-state.json"
        deadline = time.monotonic() + 90
        while (
            not (tmp_path / "alerts.jsonl").exists()
            or not (tmp_path / "alerts.jsonl").stat().st_size
        ):
            assert time.monotonic() < deadline and job.poll() is None
            time.sleep(0.2)
        job.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        _, err = job.communicate(timeout=60)
        assert job.returncode == 130, err.decode()[-2000:]
        assert time.monotonic() - stopped < 30  # no waiting for the hour-long group_wait
        assert "Traceback" not in err.decode()
        saved = json.loads(state.read_text())
        emitted = {
            json.loads(line)["fingerprint"]
            for line in (tmp_path / "alerts.jsonl").read_text().splitlines()
        }
        # No group was looked at yet (group_wait 1 h): every alert emitted waits in one,
        # saved for the next start.
        grouped = {
            a["fingerprint"] for g in saved["policy"]["groups"].values() for a in g["alerts"]
        }
        assert emitted and grouped == emitted
        assert hook.received == []
