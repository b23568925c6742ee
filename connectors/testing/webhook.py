"""A tiny real HTTP receiver on 127.0.0.1 that keeps what it is sent: :class:`WebhookReceiver`.

For tests of anything that POSTs webhooks (Alertmanager, Linewatch's own receivers).
Standard library only (``http.server`` in a daemon thread).

>>> import urllib.request
>>> with WebhookReceiver() as hook:
...     request = urllib.request.Request(hook.url + "/a", data=b'{"n": 1}', method="POST")
...     urllib.request.urlopen(request, timeout=5).status
...     [(r.path, r.json()) for r in hook.wait_for(1, timeout=5)]
200
[('/a', {'n': 1})]
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

from linewatch.connectors.testing.servers import HOST

__all__ = ["Received", "WebhookReceiver"]


@dataclass(frozen=True)
class Received:
    """One request the receiver got: method, path, headers and body."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    """Answers every POST/PUT with ``status`` (200) and keeps it in :attr:`received`."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.received: list[Received] = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _keep(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                item = Received(
                    self.command, self.path, dict(self.headers.items()), body, time.time()
                )
                with receiver._changed:
                    receiver.received.append(item)
                    receiver._changed.notify_all()
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = _keep
            do_PUT = _keep

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: the test reads `received`

        self._server = ThreadingHTTPServer((HOST, 0), Handler)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (any path is accepted)."""
        return f"http://{HOST}:{self._server.server_address[1]}"

    def start(self) -> Self:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, name="webhook-receiver", daemon=True
            )
            self._thread.start()
        return self

    def wait_for(self, count: int, timeout: float) -> list[Received]:
        """Block until ``count`` requests arrived in all; return them. Raises on timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"{len(self.received)} of {count} webhook(s) arrived in {timeout}s"
                    )
                self._changed.wait(left)
            return list(self.received)

    def close(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
