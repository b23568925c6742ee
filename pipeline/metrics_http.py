"""The /metrics and /healthz endpoint of ``linewatch run``, on a thread of its own.

A plain ``http.server`` rather than prometheus-client's ``start_http_server``: it serves
the job's private registry and /healthz on one port, binds port 0 (any free port, read
back from :attr:`MetricsServer.port`), and stops cleanly, so tests can run several.
/healthz answers 200 or 503 with a JSON body that says why
(:meth:`~linewatch.pipeline.metrics.PipelineMetrics.health`).
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from linewatch.pipeline.metrics import PipelineMetrics, import_prometheus
from linewatch.pipeline.runner import Runner

__all__ = ["MetricsServer", "start_metrics"]

log = logging.getLogger(__name__)


class MetricsServer:
    """Serves ``metrics`` on ``host:port`` until :meth:`close`; port 0 picks a free one."""

    def __init__(self, metrics: PipelineMetrics, host: str = "127.0.0.1", port: int = 0) -> None:
        prometheus = import_prometheus()
        self.metrics = metrics
        handler = _handler(metrics, prometheus)
        try:
            self._server = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise OSError(
                f"metrics: cannot listen on {host}:{port}: {exc.strerror or exc}"
            ) from None
        self._server.daemon_threads = True
        self.host = host
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="linewatch-metrics", daemon=True
        )
        self._thread.start()
        log.info(
            "metrics on http://%s:%d/metrics",
            host,
            self.port,
            extra={"metrics_host": host, "metrics_port": self.port},
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def _handler(metrics: PipelineMetrics, prometheus: Any) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                body = prometheus.generate_latest(metrics.registry)
                self._send(200, prometheus.CONTENT_TYPE_LATEST, body)
            elif path == "/healthz":
                health = metrics.health()
                text = json.dumps(health.body, sort_keys=True).encode()
                self._send(200 if health.ok else 503, "application/json", text)
            else:
                self._send(404, "text/plain; charset=utf-8", b"not found: /metrics, /healthz\n")

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("metrics request: " + format, *args)

    return Handler


def start_metrics(
    runner: Runner, host: str = "127.0.0.1", port: int = 0, stale_after_s: float = 60.0
) -> MetricsServer:
    """Watch ``runner`` (before it runs) and serve its figures; :meth:`MetricsServer.close`
    after the run (``metrics.stop()`` first, so /healthz says the loop ended)."""
    return MetricsServer(PipelineMetrics(runner, stale_after_s=stale_after_s), host, port)
