"""A real Prometheus Alertmanager on 127.0.0.1 for tests: :class:`AlertmanagerServer`.

Standard library only: importing this starts nothing. The binary is built from Go
modules by ``bash scripts/alertmanager.sh install`` into
``${XDG_CACHE_HOME:-~/.cache}/linewatch/alertmanager/<version>/bin/alertmanager``
(``$ALERTMANAGER_CACHE_DIR`` moves it; ``$ALERTMANAGER_BINARY`` names another one).

Typical use::

    with AlertmanagerServer(webhook_url="http://127.0.0.1:8123/hook") as am:
        am.post_alerts([{"labels": {"alertname": "x"}, "startsAt": ...}])
        am.alerts()                       # GET /api/v2/alerts

Clustering is off (``--cluster.listen-address=``), so only the HTTP port listens.
The config is written as JSON (valid YAML) to ``alertmanager.yml`` in the data dir:
one ``webhook`` receiver with ``send_resolved``, and a root route whose
``group_by``, ``group_wait``, ``group_interval`` and ``repeat_interval`` are
arguments (``route`` merges further keys; ``config`` replaces the whole file).

>>> am = AlertmanagerServer(webhook_url="http://127.0.0.1:9/hook", group_wait="1s")
>>> am.config["route"]["group_wait"], am.config["receivers"][0]["webhook_configs"][0]["url"]
('1s', 'http://127.0.0.1:9/hook')
>>> am.close()
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from linewatch.connectors.testing.servers import (
    HOST,
    HttpServerProcess,
    ServerError,
    user_cache_dir,
)

__all__ = [
    "ALERTMANAGER_VERSION",
    "AlertmanagerServer",
    "AlertmanagerServerError",
    "default_cache_dir",
]

ALERTMANAGER_VERSION = os.environ.get("ALERTMANAGER_VERSION", "0.35.0")
CONFIG_FILE = "alertmanager.yml"


class AlertmanagerServerError(ServerError):
    """The Alertmanager binary is missing, or it could not start, stop or answer."""


def default_cache_dir() -> Path:
    """``$ALERTMANAGER_CACHE_DIR``, else ``${XDG_CACHE_HOME:-~/.cache}/linewatch/alertmanager``."""
    env = os.environ.get("ALERTMANAGER_CACHE_DIR")
    return Path(env) if env else user_cache_dir("alertmanager")


class AlertmanagerServer(HttpServerProcess):
    """Alertmanager with one webhook receiver, on a free 127.0.0.1 port.

    ``webhook_url``: where notifications go. ``group_by`` defaults to
    ``["alertname"]``; the timings are Alertmanager durations (``"1s"``, ``"5m"``).
    ``route`` adds keys to the root route; ``config`` replaces the generated config.
    """

    kind = "alertmanager"
    install_hint = "bash scripts/alertmanager.sh install"
    ready_path = "/-/ready"
    ready_status = 200
    error = AlertmanagerServerError

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        webhook_url: str = "http://127.0.0.1:9/",
        group_by: Sequence[str] = ("alertname",),
        group_wait: str = "1s",
        group_interval: str = "1s",
        repeat_interval: str = "1h",
        send_resolved: bool = True,
        route: Mapping[str, Any] | None = None,
        config: Mapping[str, Any] | None = None,
        port: int | None = None,
        binary: str | os.PathLike[str] | None = None,
        startup_timeout: float = 60.0,
        stop_timeout: float = 30.0,
        die_with_parent: bool = True,
    ) -> None:
        super().__init__(
            data_dir,
            port=port,
            binary=binary,
            startup_timeout=startup_timeout,
            stop_timeout=stop_timeout,
            die_with_parent=die_with_parent,
        )
        self.webhook_url = webhook_url
        self.config: dict[str, Any] = (
            dict(config)
            if config is not None
            else {
                "route": {
                    "receiver": "webhook",
                    "group_by": list(group_by),
                    "group_wait": group_wait,
                    "group_interval": group_interval,
                    "repeat_interval": repeat_interval,
                    **(route or {}),
                },
                "receivers": [
                    {
                        "name": "webhook",
                        "webhook_configs": [{"url": webhook_url, "send_resolved": send_resolved}],
                    }
                ],
            }
        )

    @classmethod
    def default_binary(cls) -> Path:
        env = os.environ.get("ALERTMANAGER_BINARY")
        if env:
            return Path(env)
        return default_cache_dir() / ALERTMANAGER_VERSION / "bin" / "alertmanager"

    @property
    def config_path(self) -> Path:
        return self.data_dir / CONFIG_FILE

    def prepare(self) -> None:
        self.config_path.write_text(json.dumps(self.config, indent=2) + "\n", encoding="utf-8")
        (self.data_dir / "data").mkdir(exist_ok=True)

    def command(self) -> list[str]:
        return [
            str(self.binary),
            f"--config.file={self.config_path}",
            f"--storage.path={self.data_dir / 'data'}",
            f"--web.listen-address={HOST}:{self.port}",
            f"--web.external-url={self.url}",
            "--cluster.listen-address=",  # no gossip port: a single instance
            "--log.level=info",
        ]

    def post_alerts(self, alerts: Sequence[Mapping[str, Any]]) -> None:
        """``POST /api/v2/alerts``, as Prometheus sends them; raises unless 200."""
        status, body = self.request(
            "POST",
            "/api/v2/alerts",
            body=json.dumps(list(alerts)).encode(),
            headers={"Content-Type": "application/json"},
        )
        if status != 200:
            raise self.error(f"POST /api/v2/alerts: HTTP {status}: {body.decode(errors='replace')}")

    def alerts(self) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts``: the alerts Alertmanager holds now."""
        status, body = self.request("GET", "/api/v2/alerts")
        if status != 200:
            raise self.error(f"GET /api/v2/alerts: HTTP {status}: {body.decode(errors='replace')}")
        result: list[dict[str, Any]] = json.loads(body)
        return result
