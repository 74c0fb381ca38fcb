"""The Redis client of a process: one async client on a bounded, first-come-first-served pool.

``REDIS_URL`` is a plain Redis URL, a Sentinel one or a Redis Cluster one (see
``config/redis_url.py``); with Sentinel, every new connection asks the sentinels
where the master is, and the cluster client follows MOVED replies and refreshes
its slot map, so the client follows a failover by itself. Flask-Session's
synchronous calls reach the same pool through ``BridgedRedis``.

This module owns our overrides of redis-py (the pool's ``get_connection`` and
``release``, ``Redis.aclose``, a ``redis.Redis`` with no pool; the cluster
client's in ``service/redis_cluster.py``), checked against redis-py 8.1.0.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Callable
from typing import Any, cast
from weakref import WeakKeyDictionary

import redis
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import ExponentialBackoff
from redis.client import NEVER_DECODE
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError, TimeoutError

from config.redis_url import is_cluster_url, is_sentinel_url, parse_sentinel_url
from config.settings import Settings
from service.errors import DependencyDown
from service.redis_cluster import ServiceRedisCluster, cluster_client, fence_masters
from service.serving.bridge import wait_for
from service.serving.queueing import take_turn

REDIS_CHECKED = "8.1.0"

_scripts: WeakKeyDictionary[Redis, dict[str, AsyncScript]] = WeakKeyDictionary()


def cached_script(client: Redis, source: str) -> AsyncScript:
    """``client.register_script(source)``, made once per client and script.

    ``register_script`` hashes the source on every call; the session check
    runs on every authenticated request.
    """
    known = _scripts.setdefault(client, {})
    if source not in known:
        known[source] = client.register_script(source)
    return known[source]


# Written by wait_for_replicas only: a write is what WAIT measures from.
FENCE_KEY = "service:replication-fence"


class ServiceRedis(Redis):
    """The async client, carrying how many replicas a revocation must reach."""

    replica_acks: int = 0
    replica_timeout: float = 1.0
    # Not ``sentinel``: that name is redis-py's SENTINEL command.
    sentinels: Sentinel | None = None

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        if self.sentinels is not None:
            await self.sentinels.aclose()  # its own connections to the sentinels


class _FirstComeFirstServed:
    """Hands free connections to waiting callers in the order they asked (``service/serving/queueing.py``).

    redis-py's pool waits on an ``asyncio.Condition``, where a newcomer takes
    a freed connection ahead of the waiter woken for it.
    """

    max_connections: int
    timeout: float | None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._slots = asyncio.Semaphore(self.max_connections)
        # The connections holding a slot: only their release gives one back.
        self._holders: set[Any] = set()

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        try:
            await take_turn(self._slots, self.timeout)
        except builtins.TimeoutError:  # TimeoutError here is redis-py's
            raise ConnectionError("No connection available.") from None
        try:
            connection = await super().get_connection(*args, **kwargs)  # type: ignore[misc]
        except BaseException:
            self._slots.release()  # the pool took its connection back itself, if it had one
            raise
        self._holders.add(connection)
        return connection

    async def release(self, connection: Any) -> None:
        await super().release(connection)  # type: ignore[misc]
        if connection in self._holders:
            self._holders.remove(connection)
            self._slots.release()


class FairBlockingConnectionPool(_FirstComeFirstServed, BlockingConnectionPool):
    """A bounded pool whose waiters get connections in the order they asked."""


class _BlockingSentinelPool(_FirstComeFirstServed, SentinelConnectionPool, BlockingConnectionPool):
    """The master's pool under Sentinel, waiting for a free connection like the plain one."""


def _pool_options(settings: Settings, max_connections: int) -> dict[str, Any]:
    return {
        "max_connections": max_connections,
        "timeout": settings.redis_pool_timeout,
        "socket_timeout": settings.redis_socket_timeout,
        "socket_connect_timeout": settings.redis_socket_timeout,
        "health_check_interval": 30,
        "retry_on_error": [ConnectionError, TimeoutError],
    }


def create_redis(settings: Settings) -> ServiceRedis:
    """A client whose pool makes callers wait for a free connection.

    The default asyncio pool raises ``MaxConnectionsError`` once every
    connection is busy, which under a burst turns into errors; a blocking pool
    queues the burst and only fails after ``REDIS_POOL_TIMEOUT``.
    """
    # One quick retry hides a pooled connection that died with a Redis
    # restart (or a failover); more would only stretch the time to a 503.
    options = _pool_options(settings, settings.redis_max_connections) | {
        "retry": Retry(ExponentialBackoff(cap=0.2, base=0.02), 1),
        "decode_responses": True,
    }
    if is_sentinel_url(settings.redis_url):
        client = _master_via_sentinel(settings, options)
    elif is_cluster_url(settings.redis_url):
        client = cast(ServiceRedis, cluster_client(settings))
    else:
        pool = FairBlockingConnectionPool.from_url(settings.redis_url, **options)
        client = cast(ServiceRedis, ServiceRedis.from_pool(pool))
    client.replica_acks = settings.redis_replica_acks
    client.replica_timeout = settings.redis_replica_timeout
    return client


def _master_via_sentinel(settings: Settings, options: dict[str, Any]) -> ServiceRedis:
    """A client of the master the sentinels in ``REDIS_URL`` name, asking them on every new connection."""
    target = parse_sentinel_url(settings.redis_url)
    timeout = {"socket_timeout": settings.redis_socket_timeout}
    manager = Sentinel(target.sentinels, sentinel_kwargs=timeout)
    client: ServiceRedis = manager.master_for(
        target.service_name,
        redis_class=ServiceRedis,
        connection_pool_class=_BlockingSentinelPool,
        db=target.db,
        password=target.password,
        **options,
    )
    client.sentinels = manager
    return client


async def ping(client: Redis) -> bool:
    """PING the Redis; on a cluster, every master (a dead replica does not stop the service)."""
    if isinstance(client, RedisCluster):
        return bool(await client.ping(target_nodes=RedisCluster.PRIMARIES))
    return bool(await client.ping())


async def wait_for_replicas(client: Redis, *keys: str) -> None:
    """Return once ``replica_acks`` replicas hold every write completed before this call; else 503.

    WAIT only covers writes made on its own connection, and a pooled client
    spreads writes over many; but replication is one ordered stream, so a
    replica that acknowledges a fresh write on this connection also holds
    every write that finished before it, whichever connection made it. On a
    cluster each master has its own stream: the wait goes to the masters of
    ``keys`` (the keys just written), or to every master when none are named.
    """
    wanted = getattr(client, "replica_acks", 0)
    if not wanted:
        return
    timeout_ms = max(1, int(getattr(client, "replica_timeout", 1.0) * 1000))
    if isinstance(client, ServiceRedisCluster):
        if min(await fence_masters(client, keys, wanted, timeout_ms), default=wanted) < wanted:
            raise DependencyDown("redis could not confirm the change on its replicas, try again shortly")
        return
    async with client.pipeline(transaction=False) as pipe:
        pipe.incr(FENCE_KEY)
        pipe.wait(wanted, timeout_ms)
        _, acknowledged = await pipe.execute()
    if acknowledged < wanted:
        # Not acknowledging is the safe answer: a failover now could bring
        # the revoked session back, so the client must retry.
        raise DependencyDown("redis could not confirm the change on its replicas, try again shortly")


class BridgedRedis(redis.Redis):
    """The slice of a synchronous Redis client Flask-Session uses, served by the async one.

    Flask-Session opens and saves sessions in Flask's synchronous layer, which
    runs on the event loop: a blocking client there would stall every request
    of the worker while one waits on Redis. These calls are awaited through
    the bridge instead, on the process's one async pool. A ``redis.Redis``
    only because Flask-Session checks ``isinstance``; no pool is ever made.
    """

    def __init__(self, client: Callable[[], Redis]) -> None:  # no super(): no pool of its own
        self._client = client  # the async client is made when the server starts

    def get(self, name: Any) -> Any:
        # Raw bytes, as from Flask-Session's own client: the async client
        # decodes, and a record that is not UTF-8 must read as no session.
        return wait_for(self._client().execute_command("GET", name, **{NEVER_DECODE: True}))

    def set(self, *args: Any, **kwargs: Any) -> Any:
        return wait_for(self._client().set(*args, **kwargs))

    def delete(self, *names: Any) -> Any:
        return wait_for(self._client().delete(*names))

    def close(self) -> None:
        """Nothing to close: the pool is the async client's."""

    def __repr__(self) -> str:
        return "BridgedRedis()"
