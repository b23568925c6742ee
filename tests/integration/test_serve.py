"""``linewatch serve`` over real HTTP on 127.0.0.1, beside a running notifier.

The notifier (the job's sink, its worker thread on the wall clock) repeats a firing alert
every second to a real webhook receiver; the API acknowledges it (the repeats stop),
records its cause, and creates a silence that mutes a new alert, then expires it.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from linewatch.connectors.testing.influxdb import Influx11Server
from linewatch.connectors.testing.webhook import WebhookReceiver
from linewatch.pipeline.cli import main
from linewatch.pipeline.notify.runtime import Notifier, write_json_atomic
from linewatch.pipeline.notify.service import load_service
from linewatch.pipeline.serve_cmd import ServeApp
from tests.unit.notify.alerts import alert

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

TOKEN = "s3cret-token"
CAUSES = ["machine (equipment, tooling)", "material (lot, supplier)"]


def call(url: str, method: str = "GET", body: Any = None, token: str | None = TOKEN) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def config_path(tmp_path: Path) -> Iterator[tuple[Path, WebhookReceiver]]:
    with WebhookReceiver() as hook:
        config = {
            "lines": [{"name": "L3", "stations": []}],
            "notifications": {
                "receivers": [{"name": "lead", "type": "webhook", "url": hook.url}],
                "route": {
                    "receiver": "lead",
                    "group_by": ["line"],
                    "group_wait": "0.2s",
                    "group_interval": "0.3s",
                    "repeat_interval": "1s",
                },
                "causes": CAUSES,
                "state_dir": str(tmp_path / "notify"),
                "silences_path": str(tmp_path / "silences.json"),
                "delivery": {"spool_dir": str(tmp_path / "spool")},
            },
        }
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        yield path, hook


def wait_until(check: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def test_serve_acknowledges_records_causes_and_silences(
    config_path: tuple[Path, WebhookReceiver],
) -> None:
    path, hook = config_path
    service = load_service(path)
    assert not isinstance(service, str)
    assert service.notifications is not None
    notifier = Notifier(service.notifications)
    first = alert("f1", rule="nelson2")
    try:
        notifier.add(first)
        hook.wait_for(2, timeout=15)  # the first notification and one repeat
        with ServeApp(service, TOKEN, "127.0.0.1", 0) as app:
            api = app.url + "/api"
            assert call(api + "/alerts", token=None)[0] == 401
            assert call(api + "/alerts", token="wrong")[0] == 401
            status, listed = call(api + "/alerts")
            assert status == 200 and listed["causes"] == CAUSES
            assert [(a["fingerprint"], a["acknowledged"]) for a in listed["alerts"]] == [
                ("f1", False)
            ]
            assert call(api + "/alerts/nope/ack", "POST", {"author": "li"})[0] == 404
            status, made = call(api + "/alerts/f1/ack", "POST", {"author": "li", "text": "seen"})
            assert status == 201 and made["annotation"]["kind"] == "ack"
            assert made["influxdb"] == []  # no InfluxDB sink in this config

            # The notifier reads the acknowledgement: the repeats stop.
            wait_until(lambda: "f1" in notifier.policy._acknowledged)
            time.sleep(0.5)  # a repeat already in flight may still land
            told = len(hook.received)
            time.sleep(2.5)  # two and a half repeat intervals
            assert len(hook.received) == told

            bad = call(api + "/alerts/f1/cause", "POST", {"author": "li", "cause": "gremlins"})
            assert bad[0] == 400 and "is not in the cause list" in bad[1]["error"]
            status, made = call(
                api + "/alerts/f1/cause",
                "POST",
                {"author": "li", "cause": CAUSES[0], "action": "tip dressed", "text": "worn"},
            )
            assert status == 201
            assert (made["annotation"]["cause"], made["annotation"]["action"]) == (
                CAUSES[0],
                "tip dressed",
            )
            status, listed = call(api + "/alerts")
            (shown,) = listed["alerts"]
            assert shown["acknowledged"] is True
            assert [(n["kind"], n["author"]) for n in shown["annotations"]] == [
                ("ack", "li"),
                ("cause", "li"),
            ]

            # A silence for station trim mutes a new alert there; expired, it is heard.
            status, made = call(
                api + "/silences",
                "POST",
                {"matchers": ["station=trim"], "duration": "1h", "created_by": "li"},
            )
            assert status == 201
            silence_id = made["silence"]["id"]
            assert [(s["id"], s["state"]) for s in call(api + "/silences")[1]["silences"]] == [
                (silence_id, "active")
            ]
            wait_until(lambda: bool(notifier.silences.all()))
            told = len(hook.received)
            notifier.add(alert("f2", station="trim"))
            time.sleep(1.5)
            assert len(hook.received) == told
            status, made = call(api + "/silences/" + silence_id, "DELETE")
            assert status == 200
            assert call(api + "/silences")[1]["silences"][0]["state"] == "expired"
            bodies = hook.wait_for(told + 1, timeout=15)
            stations = {a["labels"]["station"] for a in bodies[told].json()["alerts"]}
            assert stations == {"trim", "weld-2"}
            assert call(api + "/silences/nope", "DELETE")[0] == 404
    finally:
        notifier.close()


def test_serve_refuses_to_start_without_its_token(
    config_path: tuple[Path, WebhookReceiver],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LW_TEST_NO_TOKEN", raising=False)
    path, _ = config_path
    code = main(["serve", "--config", str(path), "--token-env", "LW_TEST_NO_TOKEN"])
    err = capsys.readouterr().err
    assert code == 2
    assert err == (
        "error: serve: environment variable LW_TEST_NO_TOKEN is not set; "
        "the API token is required\n"
    )


def test_silence_commands(
    config_path: tuple[Path, WebhookReceiver], capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = config_path
    add = ["silence", "add", "--config", str(path), "--matcher", "line=L3"]
    assert main([*add, "--matcher", "rule=~nelson[2-4]", "--author", "li"]) == 2
    assert "give --duration or --ends" in capsys.readouterr().err
    assert main([*add, "--duration", "2h", "--author", "li", "--comment", "tool change"]) == 0
    silence_id = capsys.readouterr().out.strip()
    assert main(["silence", "list", "--config", str(path)]) == 0
    listed = capsys.readouterr().out
    assert listed.startswith(f"{silence_id}  active ") and "line=L3  by li: tool change" in listed
    assert main(["silence", "expire", "--config", str(path), silence_id]) == 0
    assert capsys.readouterr().out.startswith(f"{silence_id} expired at ")
    assert main(["silence", "list", "--config", str(path)]) == 0
    assert capsys.readouterr().out == "no silences\n"
    assert main(["silence", "list", "--config", str(path), "--all"]) == 0
    assert " expired " in capsys.readouterr().out
    assert main(["silence", "expire", "--config", str(path), "nope"]) == 1
    assert capsys.readouterr().err == "error: silence expire: no silence with id 'nope'\n"


def test_an_acknowledgement_and_a_cause_land_in_influxdb(
    tmp_path: Path, influx11_server: Influx11Server
) -> None:
    influx11_server.create_database("notes")
    url = f"influx://127.0.0.1:{influx11_server.port}/notes"
    config = {
        "lines": [{"name": "L3", "stations": []}],
        "sinks": [{"type": "influx", "url": url, "spool_dir": str(tmp_path / "influx-spool")}],
        "notifications": {
            "receivers": [{"name": "lead", "type": "webhook", "url": "http://127.0.0.1:9/"}],
            "route": {"receiver": "lead"},
            "causes": CAUSES,
            "state_dir": str(tmp_path / "notify"),
            "silences_path": str(tmp_path / "silences.json"),
            "delivery": {"spool_dir": str(tmp_path / "spool")},
        },
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    service = load_service(path)
    assert not isinstance(service, str)
    firing = alert("f9", station="trim")
    write_json_atomic(
        tmp_path / "notify" / "notify-state.json", {"firing": [msgspec.to_builtins(firing)]}
    )
    with ServeApp(service, TOKEN, "127.0.0.1", 0) as app:
        status, made = call(app.url + "/api/alerts/f9/ack", "POST", {"author": "li"})
        assert status == 201 and made["influxdb"] == ["ok"]
        body = {"author": "wang", "cause": CAUSES[1], "action": "lot 7 blocked", "text": "批次"}
        status, made = call(app.url + "/api/alerts/f9/cause", "POST", body)
        assert status == 201 and made["influxdb"] == ["ok"]
    result = influx11_server.query(
        'SELECT "kind", "author", "cause", "action", "text", "alert_id", "fingerprint" '
        'FROM "alert_annotation" GROUP BY *',
        "notes",
    )
    (series,) = result["results"][0]["series"]
    assert series["tags"] == {
        "line": "L3",
        "station": "trim",
        "characteristic": "nugget_dia_mm",
        "rule": "nelson2",
    }
    assert [row[1:] for row in series["values"]] == [
        ["ack", "li", "", "", "", firing.alert_id, "f9"],
        ["cause", "wang", CAUSES[1], "lot 7 blocked", "批次", firing.alert_id, "f9"],
    ]
