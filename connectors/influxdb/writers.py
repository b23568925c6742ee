"""The two ways to write a line-protocol body: InfluxDB 1.x's ``/write`` (:class:`V1Writer`,
httpx) and the v2 API (:class:`V2Writer`, influxdb-client). Both raise :class:`WriteFailed`,
whose ``kind`` tells the sink whether to retry, stop, or isolate bad lines."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from linewatch.connectors.influxdb.transport import (
    httpx_module,
    influxdb_client_module,
    retry_after_header,
    server_message,
    transport_message,
)
from linewatch.connectors.influxdb.url import InfluxSettings

__all__ = ["V1Writer", "V2Writer", "WriteFailed", "Writer"]


class WriteFailed(Exception):
    """One HTTP write that did not succeed; ``status`` None means no HTTP answer."""

    def __init__(self, status: int | None, message: str, retry_after: float | None = None):
        super().__init__(f"HTTP {status}: {message}" if status is not None else message)
        self.status = status
        self.message = message
        self.retry_after = retry_after

    @property
    def kind(self) -> Literal["transient", "config", "data"]:
        status = self.status
        if status in (401, 403, 404) or (status == 500 and "not found" in self.message):
            return "config"  # wrong token, db, bucket or retention policy
        if status is None or status >= 500 or status in (408, 429):
            return "transient"
        return "data"  # 400 partial write / unparsable, 413 too large, 422 unprocessable


class V1Writer:
    """``POST /write?db=..&rp=..&precision=ns`` with httpx; u/p params or a Token header."""

    def __init__(self, s: InfluxSettings, timeout_s: float, verify_ssl: bool) -> None:
        httpx = httpx_module()
        self._errors: tuple[type[BaseException], ...] = (httpx.HTTPError, OSError)
        self._params = {"db": s.database, "precision": "ns"}
        if s.retention_policy:
            self._params["rp"] = s.retention_policy
        if s.username is not None:
            self._params.update(u=s.username, p=s.password or "")  # 1.x before 1.8: no Token
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if s.token and s.username is None:
            headers["Authorization"] = f"Token {s.token}"
        self._client = httpx.Client(
            base_url=s.url, headers=headers, timeout=timeout_s, verify=verify_ssl
        )

    def ping(self) -> str | None:
        try:
            response = self._client.get("/ping")
        except self._errors as exc:
            raise WriteFailed(None, transport_message(exc)) from None
        if response.status_code >= 300:
            raise WriteFailed(response.status_code, server_message(response.content))
        version: str | None = response.headers.get("X-Influxdb-Version")
        return version

    def write(self, body: bytes, compressed: bool = True) -> None:
        headers = {"Content-Encoding": "gzip"} if compressed else {}
        try:
            response = self._client.post(
                "/write", params=self._params, content=body, headers=headers
            )
        except self._errors as exc:
            raise WriteFailed(None, transport_message(exc)) from None
        if response.status_code >= 300:
            raise WriteFailed(
                response.status_code,
                server_message(response.content),
                retry_after_header(response.headers.get("Retry-After")),
            )

    def close(self) -> None:
        self._client.close()


class V2Writer:
    """influxdb-client's WriteService, synchronous, with our own gzip (never the batching
    write_api, which only logs a failed batch)."""

    def __init__(self, s: InfluxSettings, timeout_s: float, verify_ssl: bool) -> None:
        client_module = influxdb_client_module()
        from influxdb_client.rest import ApiException
        from urllib3.exceptions import HTTPError as Urllib3Error

        token = s.token
        if token is None and s.username is not None:
            token = f"{s.username}:{s.password or ''}"  # 1.8+ compatibility form
        self._client = client_module.InfluxDBClient(
            url=s.url,
            token=token,
            org=s.org,
            timeout=int(timeout_s * 1000),
            enable_gzip=False,  # we compress once, and spool the compressed body
            verify_ssl=verify_ssl,
            retries=False,  # our own retry loop decides
        )
        self._api_exception = ApiException
        self._transport: tuple[type[BaseException], ...] = (Urllib3Error, OSError)
        self._ping = client_module.PingService(self._client.api_client)
        self._write = client_module.WriteService(self._client.api_client)
        self._org = s.org
        self._bucket = s.bucket

    def _call(self, function: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return function(**kwargs)
        except self._api_exception as exc:
            headers = getattr(exc, "headers", None) or {}
            raise WriteFailed(
                int(exc.status or 0) or None,
                server_message(exc.body),
                retry_after_header(headers.get("Retry-After")),
            ) from None
        except self._transport as exc:
            raise WriteFailed(None, transport_message(exc)) from None

    def ping(self) -> str | None:
        info = self._call(self._ping.get_ping_with_http_info, _return_http_data_only=False)
        headers = info[2] if isinstance(info, tuple) and len(info) > 2 else {}
        version = headers.get("X-Influxdb-Version") if headers else None
        return str(version) if version else None

    def write(self, body: bytes, compressed: bool = True) -> None:
        extra = {"content_encoding": "gzip"} if compressed else {}
        self._call(
            self._write.post_write,
            org=self._org,
            bucket=self._bucket,
            body=body,
            precision="ns",
            content_type="text/plain; charset=utf-8",
            **extra,
        )

    def close(self) -> None:
        self._client.close()


Writer = V1Writer | V2Writer
