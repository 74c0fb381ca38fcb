"""REDIS_URL naming a Sentinel-managed master or a Redis Cluster.

``redis+sentinel://[:password@]host:port[,host2:port2...]/service_name[/db]``

The hosts are the sentinels (port 26379 when left out); ``service_name`` is
the name they monitor the master under; ``password`` is the Redis password of
the master and its replicas (the sentinels themselves are asked without one).

``redis+cluster://[[user]:password@]host:port[,host2:port2...]``

The hosts are some nodes of the cluster (port 6379 when left out): the client
asks them for the rest. A cluster has database 0 only, so there is no path.
Any other URL is a plain ``redis://`` / ``rediss://`` / ``unix://`` URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

SCHEME = "redis+sentinel://"
CLUSTER_SCHEME = "redis+cluster://"
DEFAULT_SENTINEL_PORT = 26379
DEFAULT_REDIS_PORT = 6379


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


@dataclass(frozen=True)
class ClusterTarget:
    nodes: list[tuple[str, int]]
    username: str | None = None
    password: str | None = None


def is_cluster_url(url: str) -> bool:
    return url.startswith(CLUSTER_SCHEME)


def parse_cluster_url(url: str) -> ClusterTarget:
    """The start-up nodes and credentials a cluster URL names; ValueError if malformed."""
    if not is_cluster_url(url):
        raise ValueError(f"not a {CLUSTER_SCHEME} URL")
    location, _, path = url[len(CLUSTER_SCHEME) :].partition("/")
    if path.strip("/") not in ("", "0"):
        raise ValueError("a cluster has database 0 only: leave the path out")
    credentials, _, hosts = location.rpartition("@")
    username, _, password = credentials.partition(":")
    nodes = [_host_port(item, DEFAULT_REDIS_PORT, "node") for item in hosts.split(",") if item]
    if not nodes:
        raise ValueError(f"expected {CLUSTER_SCHEME}[[user]:password@]host:port[,host:port]")
    return ClusterTarget(nodes, unquote(username) or None, unquote(password) or None)


def _host_port(
    item: str, default_port: int = DEFAULT_SENTINEL_PORT, what: str = "sentinel"
) -> tuple[str, int]:
    host, _, port = item.rpartition(":") if ":" in item else (item, "", str(default_port))
    if not host or not port.isdigit():
        raise ValueError(f"a {what} must be host:port, not {item!r}")
    return host, int(port)
