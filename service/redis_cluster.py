"""The Redis Cluster client (``REDIS_URL=redis+cluster://...``) and WAIT on a cluster's masters.

This module owns our overrides of redis-py's asyncio cluster client
(``RedisCluster.execute_command`` and ``pipeline``, ``ClusterPipeline.initialize``
and ``execute``) and the internals they use (``RedisCluster._initialize``, a
pipeline's redirected commands re-sent through the client's ``execute_command``,
``NodesManager.get_node_from_slot``, ``ClusterNode.acquire_connection`` and
``release``, ``Connection.pack_commands``), checked against redis-py 8.1.0.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any, cast

from redis.asyncio.cluster import ClusterNode, ClusterPipeline, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.crc import key_slot
from redis.exceptions import (
    ConnectionError,
    CrossSlotTransactionError,
    InvalidPipelineStack,
    RedisClusterException,
    SlotNotCoveredError,
    TimeoutError,
)

from config.redis_url import parse_cluster_url
from config.settings import Settings
from service.serving.queueing import take_turn

REDIS_CHECKED = "8.1.0"

# One per master, written only by fence_masters: a write is what WAIT measures from.
FENCE_PREFIX = "service:replication-fence:"
SLOTS = 16384

# The client whose turn the running task holds. On MOVED or ASK redis-py
# re-sends a pipeline's redirected commands one by one through
# execute_command, inside the pipeline's execute: they must run in the turn
# the pipeline holds, not wait for a second one, which never comes once every
# turn is held by such a pipeline (a reshard or a failover under load).
_holding: ContextVar[ServiceRedisCluster | None] = ContextVar("cluster_turn", default=None)


def _cluster_down(error: RedisClusterException) -> BaseException:
    """A ConnectionError for redis-py's cluster errors that mean no node answers or a slot has no master.

    They are no RedisError (so the error path would answer 500); they happen
    when every node is unreachable or during a failover. A cross-slot
    transaction or a broken pipeline stays what it is: a bug.
    """
    if isinstance(error, (CrossSlotTransactionError, InvalidPipelineStack)):
        return error
    return ConnectionError(f"redis cluster: {error}")


class ServiceRedisCluster(RedisCluster):
    """The cluster client, with the plain client's bounded, first-come-first-served waiting.

    A cluster node's pool raises at once when all its connections are busy;
    here a caller waits its turn for up to ``REDIS_POOL_TIMEOUT`` instead, and
    at most ``REDIS_MAX_CONNECTIONS`` commands or pipelines are in flight, so
    no node's pool of that size is ever exhausted.
    """

    replica_acks: int = 0
    replica_timeout: float = 1.0
    pool_timeout: float | None = 5.0
    _turns: asyncio.Semaphore

    async def take_turn(self) -> None:
        """Wait for a free turn (``REDIS_POOL_TIMEOUT`` at most); the caller releases it."""
        if self._initialize:
            # redis-py 8.1.0: commands racing the client's first initialisation
            # can meet a connection it closes under them (AttributeError on
            # the writer); the first caller initialises, the others wait.
            try:
                await self.initialize()
            except RedisClusterException as error:
                raise _cluster_down(error) from error
        try:
            await take_turn(self._turns, self.pool_timeout)
        except builtins.TimeoutError:
            raise ConnectionError("No connection available.") from None

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Hold a turn for the block; within a turn this task already holds, take none."""
        if _holding.get() is self:
            yield
            return
        await self.take_turn()
        token = _holding.set(self)
        try:
            yield
        finally:
            _holding.reset(token)
            self._turns.release()

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        async with self.turn():
            try:
                return await super().execute_command(*args, **kwargs)
            except RedisClusterException as error:
                raise _cluster_down(error) from error

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> ClusterPipeline:
        if shard_hint:
            return super().pipeline(transaction, shard_hint)  # redis-py refuses it
        return _ServicePipeline(self, transaction)  # type: ignore[abstract]  # as redis-py's own


class _ServicePipeline(ClusterPipeline):
    """A cluster pipeline that waits its turn like a command; an unreachable cluster is Redis down."""

    async def initialize(self) -> ClusterPipeline:
        # ``async with client.pipeline()`` fetches the slot map here, before
        # execute: a slot no node serves raises RedisClusterException (a 500).
        try:
            return await super().initialize()
        except RedisClusterException as error:
            raise _cluster_down(error) from error

    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> list[Any]:
        async with cast(ServiceRedisCluster, self.cluster_client).turn():
            try:
                return await super().execute(raise_on_error, allow_redirections)
            except RedisClusterException as error:
                raise _cluster_down(error) from error


def cluster_client(settings: Settings) -> ServiceRedisCluster:
    """A Redis Cluster client that asks the nodes in ``REDIS_URL`` for the slot map."""
    return connect_cluster(
        settings.redis_url,
        max_connections=settings.redis_max_connections,
        socket_timeout=settings.redis_socket_timeout,
        connect_timeout=settings.redis_socket_timeout,
        pool_timeout=settings.redis_pool_timeout,
    )


def connect_cluster(
    url: str,
    *,
    max_connections: int,
    socket_timeout: float,
    connect_timeout: float,
    pool_timeout: float | None,
    decode_responses: bool = True,
) -> ServiceRedisCluster:
    """A waiting cluster client for ``url`` (``redis+cluster://``): the service's, or the mail queue's."""
    target = parse_cluster_url(url)
    client = ServiceRedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in target.nodes],
        username=target.username,
        password=target.password,
        max_connections=max_connections,
        socket_timeout=socket_timeout,
        socket_connect_timeout=connect_timeout,
        health_check_interval=30,
        decode_responses=decode_responses,
        # A few quick retries: each one that meets a dead master makes the
        # client refresh its slot map, which finds the promoted replica.
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 3),
        retry_on_error=[ConnectionError, TimeoutError],
    )
    client._turns = asyncio.Semaphore(max_connections)
    client.pool_timeout = pool_timeout
    return client


async def fence_masters(
    client: ServiceRedisCluster, keys: tuple[str, ...], wanted: int, timeout_ms: int
) -> list[int]:
    """How many replicas acknowledged, for each master of ``keys`` (every master if none)."""
    try:
        await client.initialize()  # the slot map, if no command has fetched it yet
        # A key's master: typed Optional only for get_node_from_key(replica=True).
        masters = [cast(ClusterNode, client.get_node_from_key(key)) for key in keys]
        nodes = set(masters) if keys else set(client.get_primaries())
        return list(await asyncio.gather(*(_fence_node(client, node, wanted, timeout_ms) for node in nodes)))
    except RedisClusterException as error:  # SlotNotCoveredError: a key's slot has no master now
        raise _cluster_down(error) from error


def _fence_key(client: RedisCluster, node: ClusterNode) -> str:
    """A fence key in a slot that ``node`` serves (a few tries: a master serves a third of the slots)."""
    # Bounded: for a node that serves no slot (a replica, or a master a
    # reshard emptied) every try fails, and the caller must hear it soon.
    for n in range(SLOTS):
        key = f"{FENCE_PREFIX}{{{n}}}"
        try:
            if client.nodes_manager.get_node_from_slot(key_slot(key.encode())) == node:
                return key
        except SlotNotCoveredError:
            continue  # a slot no node serves is not this node's either
    raise ConnectionError(f"redis cluster: {node.name} serves none of the slots of {SLOTS} fence keys")


async def _fence_node(client: ServiceRedisCluster, node: ClusterNode, wanted: int, timeout_ms: int) -> int:
    """INCR a fence key the node owns and WAIT, on one connection of that node: WAIT counts its own writes."""
    async with client.turn():
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
