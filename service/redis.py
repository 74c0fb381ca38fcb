"""The Redis clients: async for the views, sync for Flask-Session; bounded, blocking pools."""

from __future__ import annotations

import redis
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError
from redis.retry import Retry as SyncRetry

from config.settings import Settings


def create_redis(settings: Settings) -> Redis:
    """A client whose pool makes callers wait for a free connection.

    The default asyncio pool raises ``MaxConnectionsError`` once every
    connection is busy, which under a burst turns into errors; a blocking pool
    queues the burst and only fails after ``REDIS_POOL_TIMEOUT``.
    """
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_max_connections,
        timeout=settings.redis_pool_timeout,
        socket_timeout=settings.redis_socket_timeout,
        socket_connect_timeout=settings.redis_socket_timeout,
        health_check_interval=30,
        # One quick retry hides a pooled connection that died with a Redis
        # restart; more would only stretch the time to a 503 when it is down.
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 1),
        retry_on_error=[ConnectionError, TimeoutError],
        decode_responses=True,
    )
    return Redis.from_pool(pool)


def create_sync_redis(settings: Settings) -> redis.Redis:
    """The synchronous client Flask-Session needs; it runs on the WSGI threads.

    One connection per WSGI thread at most, so the pool never makes a
    request wait; same timeouts and retry as the async client.
    """
    pool = redis.BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.wsgi_threads,
        timeout=settings.redis_pool_timeout,
        socket_timeout=settings.redis_socket_timeout,
        socket_connect_timeout=settings.redis_socket_timeout,
        health_check_interval=30,
        retry=SyncRetry(ExponentialBackoff(cap=0.2, base=0.02), 1),
        retry_on_error=[ConnectionError, TimeoutError],
    )
    return redis.Redis.from_pool(pool)
