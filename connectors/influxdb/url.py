"""Where InfluxDB is: :class:`InfluxSettings` and the ``influx://`` URL parser."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["Api", "InfluxSettings", "parse_influx_url"]

Api = Literal["v1", "v2"]


@dataclass(frozen=True, slots=True)
class InfluxSettings:
    """Where and how to reach InfluxDB (from :func:`parse_influx_url`)."""

    url: str
    database: str
    retention_policy: str | None = None
    api: Api = "v2"
    token: str | None = field(default=None, repr=False)
    org: str = "-"
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def bucket(self) -> str:
        """The v2 bucket: ``db/rp`` (1.8+ compatibility) or ``db``."""
        if self.retention_policy:
            return f"{self.database}/{self.retention_policy}"
        return self.database

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :class:`InfluxSink` and :class:`InfluxSource`."""
        return {
            "retention_policy": self.retention_policy,
            "api": self.api,
            "token": self.token,
            "org": self.org,
            "username": self.username,
            "password": self.password,
        }


_URL_OPTIONS = {"rp", "api", "token", "org"}


def parse_influx_url(url: str) -> InfluxSettings:
    """``influx://[user:pass@]HOST[:PORT]/DB[?rp=..&api=v1|v2&token=..&org=..]``.

    ``influxs://`` means HTTPS. The port defaults to 8086, the API to v2. User, password
    and token are percent-decoded.

    >>> s = parse_influx_url("influx://lw:s%40cret@127.0.0.1:8086/plant?rp=raw&api=v1")
    >>> s.url, s.database, s.retention_policy, s.api, s.username, s.password
    ('http://127.0.0.1:8086', 'plant', 'raw', 'v1', 'lw', 's@cret')
    >>> parse_influx_url("influxs://db.example.com/plant?token=abc").url
    'https://db.example.com:8086'
    >>> parse_influx_url("influx://127.0.0.1:8086/")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: 'influx://127.0.0.1:8086/' names no database: use influx://[user:pass@]HOST:...
    """
    form = "influx://[user:pass@]HOST:PORT/DB[?rp=..&api=v1|v2&token=..&org=..]"
    parts = urlsplit(url)
    scheme = {"influx": "http", "influxs": "https"}.get(parts.scheme)
    if scheme is None:
        raise ValueError(f"{url!r} is not an InfluxDB URL: use {form} (influxs:// for HTTPS)")
    try:
        host, port = parts.hostname, parts.port or 8086
    except ValueError as exc:  # a port that is not a number
        raise ValueError(f"{url!r}: {exc}; use {form}") from None
    if not host:
        raise ValueError(f"{url!r} names no host: use {form}")
    database = unquote(parts.path.lstrip("/"))
    if not database:
        raise ValueError(f"{url!r} names no database: use {form}")
    if "/" in database:
        raise ValueError(f"{url!r}: the database {database!r} has a '/'; give ?rp=... instead")
    if parts.fragment:
        raise ValueError(f"{url!r} has a fragment '#{parts.fragment}': use {form}")
    query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=False)
    unknown = sorted(set(query) - _URL_OPTIONS)
    if unknown:
        raise ValueError(f"{url!r}: unknown option(s) {', '.join(unknown)}; use {form}")
    options = {key: values[-1] for key, values in query.items()}
    api = options.get("api", "v2")
    if api not in ("v1", "v2"):
        raise ValueError(f"{url!r}: api must be v1 or v2, not {api!r}")
    host_text = f"[{host}]" if ":" in host else host
    return InfluxSettings(
        url=f"{scheme}://{host_text}:{port}",
        database=database,
        retention_policy=options.get("rp") or None,
        api="v1" if api == "v1" else "v2",
        token=options.get("token") or None,
        org=options.get("org") or "-",
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )
