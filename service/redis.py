"""The Redis client of a process: one async client on a bounded, first-come-first-served pool.

``REDIS_URL`` is a plain Redis URL, a Sentinel one or a Redis Cluster one (see
``config/redis_url.py``); with Sentinel, every new connection asks the sentinels
where the master is, and the cluster client follows MOVED replies and refreshes
its slot map, so the client follows a failover by itself. Flask-Session's
synchronous calls reach the same pool through ``BridgedRedis``.

This module owns our overrides of redis-py (the pool's ``get_connection`` and
``release``, ``Redis.aclose``, ``RedisCluster.execute_command``, a cluster
node's connection for WAIT, a ``redis.Redis`` with no pool), checked against
redis-py 8.1.0.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Callable
from typing import Any, cast
from weakref import WeakKeyDictionary

import redis
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import ExponentialBackoff
from redis.client import NEVER_DECODE
from redis.commands.core import AsyncScript
from redis.crc import key_slot
from redis.exceptions import ConnectionError, TimeoutError

from config.redis_url import is_cluster_url, is_sentinel_url, parse_cluster_url, parse_sentinel_url
from config.settings import Settings
from service.errors import DependencyDown
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


class ServiceRedisCluster(RedisCluster):
    """The cluster client, with the plain client's bounded, first-come-first-served waiting.

    A cluster node's pool raises at once when all its connections are busy;
    here a caller waits its turn for up to ``REDIS_POOL_TIMEOUT`` instead, and
    at most ``REDIS_MAX_CONNECTIONS`` commands are in flight, so no node's pool
    of that size is ever exhausted.
    """

    replica_acks: int = 0
    replica_timeout: float = 1.0
    pool_timeout: float | None = 5.0
    sentinels: Sentinel | None = None
    _turns: asyncio.Semaphore

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        if self._initialize:
            # redis-py 8.1.0: commands racing the client's first initialisation
            # can meet a connection it closes under them (AttributeError on
            # the writer); the first caller initialises, the others wait.
            await self.initialize()
        try:
            await take_turn(self._turns, self.pool_timeout)
        except builtins.TimeoutError:
            raise ConnectionError("No connection available.") from None
        try:
            return await super().execute_command(*args, **kwargs)
        finally:
            self._turns.release()


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
        client = _cluster(settings)
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


def _cluster(settings: Settings) -> ServiceRedis:
    """A Redis Cluster client that asks the nodes in ``REDIS_URL`` for the slot map."""
    target = parse_cluster_url(settings.redis_url)
    client = ServiceRedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in target.nodes],
        username=target.username,
        password=target.password,
        max_connections=settings.redis_max_connections,
        socket_timeout=settings.redis_socket_timeout,
        socket_connect_timeout=settings.redis_socket_timeout,
        health_check_interval=30,
        decode_responses=True,
        # A few quick retries: each one that meets a dead master makes the
        # client refresh its slot map, which finds the promoted replica.
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 3),
        retry_on_error=[ConnectionError, TimeoutError],
    )
    client._turns = asyncio.Semaphore(settings.redis_max_connections)
    client.pool_timeout = settings.redis_pool_timeout
    return cast(ServiceRedis, client)


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
    if isinstance(client, RedisCluster):
        await client.initialize()  # the slot map, if no command has fetched it yet
        nodes = {client.get_node_from_key(key) for key in keys} if keys else set(client.get_primaries())
        counts = await asyncio.gather(*(_fence_node(client, node, wanted, timeout_ms) for node in nodes))
        if min(counts, default=wanted) < wanted:
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


def _fence_key(client: RedisCluster, node: ClusterNode) -> str:
    """A fence key in a slot that ``node`` serves (a few tries: a third of the slots are its)."""
    for n in range(16384 * 4):
        key = f"{FENCE_KEY}:{{{n}}}"
        if client.nodes_manager.get_node_from_slot(key_slot(key.encode())) == node:
            return key
    raise ConnectionError(f"no slot of the cluster is served by {node.name}")


async def _fence_node(client: RedisCluster, node: ClusterNode, wanted: int, timeout_ms: int) -> int:
    """INCR a fence key the node owns and WAIT, on one connection of that node: WAIT counts its own writes."""
    connection = node.acquire_connection()
    try:
        await connection.send_packed_command(
            connection.pack_commands([("INCR", _fence_key(client, node)), ("WAIT", wanted, timeout_ms)])
        )
        await connection.read_response()
        return int(await connection.read_response())
    except BaseException:
        await connection.disconnect()  # a reply may still be on its way: never hand this one out again
        raise
    finally:
        node.release(connection)


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
