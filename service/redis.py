"""Redis clients: async for the views, sync for Flask-Session; bounded, blocking pools.

``REDIS_URL`` is a plain Redis URL or a Sentinel one (see ``config/redis_url.py``);
with Sentinel, every new connection asks the sentinels where the master is,
so both clients follow a failover by themselves.
"""

from __future__ import annotations

import asyncio
import builtins
from typing import Any
from weakref import WeakKeyDictionary

import redis
from redis import sentinel as sync_sentinel
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import ExponentialBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError, TimeoutError
from redis.retry import Retry as SyncRetry

from config.redis_url import is_sentinel_url, parse_sentinel_url
from config.settings import Settings
from service.errors import DependencyDown
from service.queueing import take_turn

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
    sentinel: Sentinel | None = None

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        if self.sentinel is not None:
            await self.sentinel.aclose()  # its own connections to the sentinels


class SyncServiceRedis(redis.Redis):
    """The sync client; closing it also closes its connections to the sentinels."""

    sentinel: sync_sentinel.Sentinel | None = None

    def close(self) -> None:
        super().close()
        for node in self.sentinel.sentinels if self.sentinel is not None else ():
            node.close()


class _FirstComeFirstServed:
    """Hands free connections to waiting callers in the order they asked (``service/queueing.py``).

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


class _SyncBlockingSentinelPool(sync_sentinel.SentinelConnectionPool, redis.BlockingConnectionPool):
    """The same for the sync client."""


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
        client = _master_via_sentinel(settings, Sentinel, ServiceRedis, _BlockingSentinelPool, options)
    else:
        client = ServiceRedis.from_pool(FairBlockingConnectionPool.from_url(settings.redis_url, **options))
    client.replica_acks = settings.redis_replica_acks
    client.replica_timeout = settings.redis_replica_timeout
    return client


def create_sync_redis(settings: Settings) -> SyncServiceRedis:
    """The synchronous client Flask-Session needs; it runs on the WSGI threads.

    One connection per WSGI thread at most, so the pool never makes a
    request wait; same timeouts and retry as the async client. Responses
    stay bytes: Flask-Session stores serialised bytes, not text.
    """
    options = _pool_options(settings, settings.wsgi_threads) | {
        "retry": SyncRetry(ExponentialBackoff(cap=0.2, base=0.02), 1),
    }
    if is_sentinel_url(settings.redis_url):
        return _master_via_sentinel(
            settings, sync_sentinel.Sentinel, SyncServiceRedis, _SyncBlockingSentinelPool, options
        )
    return SyncServiceRedis.from_pool(redis.BlockingConnectionPool.from_url(settings.redis_url, **options))


def _master_via_sentinel(
    settings: Settings, sentinel_class: type, redis_class: type, pool_class: type, options: dict[str, Any]
) -> Any:
    """A client of the master the sentinels in ``REDIS_URL`` name, asking them on every new connection.

    The same for the async and the sync API: they differ only in the classes.
    """
    target = parse_sentinel_url(settings.redis_url)
    timeout = {"socket_timeout": settings.redis_socket_timeout}
    manager = sentinel_class(target.sentinels, sentinel_kwargs=timeout)
    client = manager.master_for(
        target.service_name,
        redis_class=redis_class,
        connection_pool_class=pool_class,
        db=target.db,
        password=target.password,
        **options,
    )
    client.sentinel = manager
    return client


async def wait_for_replicas(client: Redis) -> None:
    """Return once ``replica_acks`` replicas hold every write completed before this call; else 503.

    WAIT only covers writes made on its own connection, and a pooled client
    spreads writes over many; but replication is one ordered stream, so a
    replica that acknowledges a fresh write on this connection also holds
    every write that finished before it, whichever connection made it.
    """
    wanted = getattr(client, "replica_acks", 0)
    if not wanted:
        return
    timeout_ms = max(1, int(getattr(client, "replica_timeout", 1.0) * 1000))
    async with client.pipeline(transaction=False) as pipe:
        pipe.incr(FENCE_KEY)
        pipe.wait(wanted, timeout_ms)
        _, acknowledged = await pipe.execute()
    if acknowledged < wanted:
        # Not acknowledging is the safe answer: a failover now could bring
        # the revoked session back, so the client must retry.
        raise DependencyDown("redis could not confirm the change on its replicas, try again shortly")
