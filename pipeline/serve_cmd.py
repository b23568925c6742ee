"""``linewatch serve``: a small HTTP API and page for shift leads; and ``linewatch silence``.

The API (JSON; every ``/api/`` call needs ``Authorization: Bearer <token>``, the token
read from the environment variable ``--token-env`` names; the server refuses to start
without it, and compares in constant time):

=======  ==================================  ==================================================
GET      /api/alerts                          firing alerts, each with ``acknowledged``,
                                              ``annotations`` and ``silenced_by``; the cause list
POST     /api/alerts/{fingerprint}/ack        ``{"author", "text"}``: acknowledge (no repeats)
POST     /api/alerts/{fingerprint}/cause      ``{"author", "cause", "action", "text"}``; ``cause``
                                              from the config's ``notifications.causes``
GET      /api/annotations                     every acknowledgement and cause recorded
GET      /api/silences                        every silence with its state
POST     /api/silences                        ``{"matchers", "created_by", "comment",
                                              "starts_at"?, "ends_at" | "duration"}``
DELETE   /api/silences/{id}                   expire a silence now
=======  ==================================  ==================================================

``GET /`` is a page (no data in it) that asks for the token and calls the API. The firing
alerts are those of the running job's ``notify-state.json``; see
:mod:`linewatch.pipeline.notify.service`.
"""

from __future__ import annotations

import argparse
import hmac
import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from types import FrameType
from typing import Any, Self

import msgspec

from linewatch.pipeline import silence_cmd
from linewatch.pipeline.notify.service import AlertService, RequestError, load_service

__all__ = ["ServeApp", "add_parser", "cmd_serve"]

_MAX_BODY = 64 * 1024


def _page() -> bytes:
    return resources.files("linewatch.pipeline.notify").joinpath("serve.html").read_bytes()


class ServeApp:
    """The HTTP server in a thread (``start``/``close``), or in the foreground (``serve``)."""

    def __init__(self, service: AlertService, token: str, host: str, port: int) -> None:
        if not token:
            raise ValueError("the API token is empty")
        self.service = service
        expected = f"Bearer {token}".encode()
        app = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "linewatch"

            def _answer(self, status: int, body: Any, kind: str = "application/json") -> None:
                data = body if isinstance(body, bytes) else msgspec.json.encode(body)
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(data)

            def _authorized(self) -> bool:
                given = self.headers.get("Authorization", "").encode()
                if hmac.compare_digest(given, expected):
                    return True
                self.send_response(401)
                data = b'{"error": "a valid bearer token is required"}'
                self.send_header("WWW-Authenticate", 'Bearer realm="linewatch"')
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return False

            def _body(self) -> dict[str, Any]:
                length = int(self.headers.get("Content-Length") or 0)
                if length > _MAX_BODY:
                    raise RequestError("request body too large", 413)
                raw = self.rfile.read(length) if length else b"{}"
                try:
                    body = json.loads(raw)
                except ValueError:
                    raise RequestError("the body is not JSON") from None
                if not isinstance(body, dict):
                    raise RequestError("the body must be a JSON object")
                return body

            def _dispatch(self, method: str) -> None:
                path = self.path.split("?", 1)[0].rstrip("/") or "/"
                if method == "GET" and path in ("/", "/index.html"):
                    self._answer(200, _page(), "text/html; charset=utf-8")
                    return
                if not path.startswith("/api/"):
                    self._answer(404, {"error": f"no such page {path}"})
                    return
                if not self._authorized():
                    return
                try:
                    status, result = app.route(method, path.split("/")[2:], self._body)
                except RequestError as exc:
                    status, result = exc.status, {"error": str(exc)}
                self._answer(status, result)

            def do_GET(self) -> None:
                self._dispatch("GET")

            def do_POST(self) -> None:
                self._dispatch("POST")

            def do_DELETE(self) -> None:
                self._dispatch("DELETE")

            def log_message(self, format: str, *args: Any) -> None:
                pass  # request lines may carry nothing secret, but stay quiet like the job

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def route(self, method: str, parts: list[str], body: Any) -> tuple[int, Any]:
        service = self.service
        match method, parts:
            case "GET", ["alerts"]:
                return 200, {"alerts": service.alerts(), "causes": service.causes}
            case "POST", ["alerts", fingerprint, ("ack" | "cause") as kind]:
                return 201, service.annotate(fingerprint, kind, body())
            case "GET", ["annotations"]:
                notes = [msgspec.to_builtins(n) for n in service.annotations.all()]
                return 200, {"annotations": notes}
            case "GET", ["silences"]:
                return 200, {"silences": service.list_silences()}
            case "POST", ["silences"]:
                return 201, {"silence": msgspec.to_builtins(service.create_silence(body()))}
            case "DELETE", ["silences", silence_id]:
                return 200, {"silence": msgspec.to_builtins(service.expire_silence(silence_id))}
        raise RequestError(f"no such call: {method} /api/{'/'.join(parts)}", 404)

    def start(self) -> Self:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="linewatch-serve", daemon=True
        )
        self._thread.start()
        return self

    def serve(self) -> None:
        """Serve until SIGINT/SIGTERM."""
        self.start()
        stop = threading.Event()

        def handler(_signum: int, _frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)
        stop.wait()
        self.close()

    def close(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _fail(message: str, code: int = 2) -> int:
    sys.stderr.write(f"error: {message}\n")
    return code


def cmd_serve(args: argparse.Namespace) -> int:
    token = os.environ.get(args.token_env, "")
    if not token:
        return _fail(
            f"serve: environment variable {args.token_env} is not set; the API token is required"
        )
    service = load_service(args.config)
    if isinstance(service, str):
        return _fail(service)
    try:
        app = ServeApp(service, token, args.host, args.port)
    except OSError as exc:
        return _fail(f"serve: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", 1)
    sys.stderr.write(f"linewatch serve: {app.url}/ (API under /api/, bearer token)\n")
    app.serve()
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``serve`` and ``silence``."""
    parser = subparsers.add_parser(
        "serve",
        help="HTTP API and page: firing alerts, acknowledge, causes, silences",
        description="A small HTTP API and page for shift leads: firing alerts, acknowledge, "
        "assignable cause and corrective action, silences. Every /api/ call needs "
        "'Authorization: Bearer <token>'; the token comes from --token-env and is required.",
    )
    parser.add_argument("--config", type=Path, required=True, help="the YAML config file")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=9300, help="port (default 9300)")
    parser.add_argument(
        "--token-env",
        required=True,
        metavar="NAME",
        help="environment variable holding the API token (required)",
    )
    parser.set_defaults(func=cmd_serve)
    silence_cmd.add_parser(subparsers)
