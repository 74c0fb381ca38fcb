"""REDIS_URL naming a Sentinel-managed master.

``redis+sentinel://[:password@]host:port[,host2:port2...]/service_name[/db]``

The hosts are the sentinels (port 26379 when left out); ``service_name`` is
the name they monitor the master under; ``password`` is the Redis password of
the master and its replicas (the sentinels themselves are asked without one).
Any other URL is a plain ``redis://`` / ``rediss://`` / ``unix://`` URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

SCHEME = "redis+sentinel://"
DEFAULT_SENTINEL_PORT = 26379


@dataclass(frozen=True)
class SentinelTarget:
    sentinels: list[tuple[str, int]]
    service_name: str
    db: int = 0
    password: str | None = None


def is_sentinel_url(url: str) -> bool:
    return url.startswith(SCHEME)


def parse_sentinel_url(url: str) -> SentinelTarget:
    """The sentinels, service name, db and password a sentinel URL names; ValueError if malformed."""
    if not is_sentinel_url(url):
        raise ValueError(f"not a {SCHEME} URL")
    rest = url[len(SCHEME) :]
    location, _, path = rest.partition("/")
    credentials, _, hosts = location.rpartition("@")
    password = unquote(credentials.partition(":")[2]) if credentials else None
    sentinels = [_host_port(item) for item in hosts.split(",") if item]
    parts = [part for part in path.split("/") if part]
    if not sentinels or not parts or len(parts) > 2:
        raise ValueError(f"expected {SCHEME}[:password@]host:port[,host:port]/service_name[/db]")
    db = parts[1] if len(parts) == 2 else "0"
    if not db.isdigit():
        raise ValueError(f"the database number must be an integer, not {db!r}")
    return SentinelTarget(sentinels, unquote(parts[0]), int(db), password or None)


def _host_port(item: str) -> tuple[str, int]:
    host, _, port = item.rpartition(":") if ":" in item else (item, "", str(DEFAULT_SENTINEL_PORT))
    if not host or not port.isdigit():
        raise ValueError(f"a sentinel must be host:port, not {item!r}")
    return host, int(port)
