"""The mail queue: taskiq on a Redis stream, with retries held in a sorted set until due.

taskiq-redis's stream broker gives at-least-once delivery (a consumer group;
an entry is acknowledged only after its task ran). What this subclass adds:

- a mail that a killed worker had taken is taken over by another worker after
  ``reclaim_after``, on every poll, not only when new mail arrives;
- a retry waits in ``<queue>:delayed`` (score: when it is due) and is moved
  back to the stream atomically once due, so a backoff survives restarts;
- an acknowledged entry is deleted, so delivered mail (its links hold tokens)
  does not stay in Redis;
- ``REDIS_URL`` may name a Sentinel-managed master or a Redis Cluster. On a
  cluster the stream and the delayed set carry the queue's name as their hash
  tag (``{mail}:stream``, ``{mail}:delayed``): the promoting script touches
  both, so they must share a slot (the queue then lives on one master).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, RedisClusterException, RedisError, ResponseError, TimeoutError
from taskiq import AckableMessage, BrokerMessage
from taskiq.exceptions import SendTaskError
from taskiq.kicker import AsyncKicker
from taskiq_redis import RedisStreamBroker

from config.redis_url import is_cluster_url, is_sentinel_url, parse_sentinel_url
from service.errors import DependencyDown
from service.mail.delivery import PermanentFailure, hand_over
from service.mail.messages import Mail
from service.mail.settings import MailSettings
from service.redis_cluster import ServiceRedisCluster, connect_cluster

log = logging.getLogger("service.mail")

DELIVER_TASK = "mail.deliver"
# Takes a mail and sends nothing: a forgot-password miss queues one, so it costs what a hit costs.
DISCARD_TASK = "mail.discard"
NOT_BEFORE = "not_before"  # label: epoch seconds before which the message waits in the delayed set
POOL_SIZE = 20
# How long a caller waits for a free connection: redis-py's BlockingConnectionPool
# default, which the plain and Sentinel forms get from taskiq.
POOL_TIMEOUT = 20.0

# Moves due retries to the stream in one step: never both places, never neither.
PROMOTE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 100)
for _, data in ipairs(due) do
  redis.call('XADD', KEYS[2], '*', 'data', data)
  redis.call('ZREM', KEYS[1], data)
end
return #due
"""


class MailBroker(RedisStreamBroker):
    """taskiq's Redis stream broker, made to lose nothing (see the module docstring)."""

    def __init__(self, settings: MailSettings) -> None:
        sentinel = is_sentinel_url(settings.redis_url)
        cluster = is_cluster_url(settings.redis_url)
        queue = f"{{{settings.queue_name}}}" if cluster else settings.queue_name
        # One quick retry hides a pooled connection that died with a Redis restart, as the
        # service's own client does (service/redis.py); a retried XADD may duplicate a mail, never lose one.
        timeouts: dict[str, Any] = {
            "socket_timeout": 5.0,
            "socket_connect_timeout": 2.0,
            "retry": Retry(ExponentialBackoff(cap=0.2, base=0.02), 1),
        }
        super().__init__(
            "redis://replaced.invalid" if sentinel or cluster else settings.redis_url,  # replaced below
            queue_name=f"{queue}:stream",
            consumer_group_name=settings.queue_name,
            consumer_id="0",  # a group made after mail was queued still reads that mail
            max_connection_pool_size=POOL_SIZE,
            xread_block=1000,
            xread_count=10,
            idle_timeout=int(settings.reclaim_after * 1000),
            unacknowledged_batch_size=10,
            **timeouts,
        )
        self.sentinel: Sentinel | None = None
        if sentinel:
            target = parse_sentinel_url(settings.redis_url)
            self.sentinel = Sentinel(target.sentinels, sentinel_kwargs=timeouts)
            self.connection_pool = SentinelConnectionPool(  # type: ignore[assignment]  # used as a plain pool
                target.service_name,
                self.sentinel,
                db=target.db,
                password=target.password,
                **timeouts,
            )
        self.cluster: ServiceRedisCluster | None = None
        if cluster:
            # The service's waiting client: a burst of mail past the pool
            # waits for a connection, as on the plain pool, instead of a 503.
            self.cluster = connect_cluster(
                settings.redis_url,
                max_connections=POOL_SIZE,
                socket_timeout=timeouts["socket_timeout"],
                connect_timeout=timeouts["socket_connect_timeout"],
                pool_timeout=POOL_TIMEOUT,
                decode_responses=False,  # taskiq's messages are bytes
            )
        self.delayed_key = f"{queue}:delayed"

    async def close(self) -> None:
        """Close every connection: to Redis, to the sentinels or to the cluster's nodes."""
        await self.connection_pool.disconnect()
        if self.sentinel is not None:
            for node in self.sentinel.sentinels:
                await node.aclose()
        if self.cluster is not None:
            await self.cluster.aclose()

    @contextlib.asynccontextmanager
    async def _redis(self) -> AsyncIterator[Redis]:
        """A client on the queue's Redis; the cluster client (the broker's one) is not closed on exit."""
        if self.cluster is not None:
            try:
                # Before any command: commands racing redis-py's first initialisation
                # can meet connections it closes (see service/redis_cluster.py).
                await self.cluster.initialize()
                yield cast(Redis, self.cluster)
            except RedisClusterException as error:  # no RedisError: no node answers
                raise ConnectionError(f"redis cluster: {error}") from error
            return
        async with Redis(connection_pool=self.connection_pool) as redis:
            yield redis

    async def _declare_consumer_group(self) -> None:
        async with self._redis() as redis:
            try:
                await redis.xgroup_create(
                    self.queue_name, self.consumer_group_name, id=self.consumer_id, mkstream=True
                )
            except ResponseError as error:  # BUSYGROUP: it exists
                log.debug("mail queue: %s", error)

    async def kick(self, message: BrokerMessage) -> None:
        not_before = message.labels.get(NOT_BEFORE)
        async with self._redis() as redis:
            if not_before is None:
                await redis.xadd(self.queue_name, {b"data": message.message})
            else:
                await redis.zadd(self.delayed_key, {message.message: float(not_before)})

    def _ack_generator(self, id: str, queue_name: str) -> Callable[[], Awaitable[None]]:
        async def ack() -> None:
            async with self._redis() as redis, redis.pipeline(transaction=True) as pipe:
                pipe.xack(queue_name, self.consumer_group_name, id)
                pipe.xdel(queue_name, id)
                await pipe.execute()

        return ack

    async def _promote_due(self, redis: Redis) -> None:
        await redis.eval(PROMOTE, 2, self.delayed_key, self.queue_name, str(time.time()))

    async def _reclaim(self, redis: Redis) -> list[tuple[Any, Any]]:
        """Entries another consumer took over ``reclaim_after`` ago and never acknowledged."""
        reply: Any = await redis.xautoclaim(
            self.queue_name,
            self.consumer_group_name,
            self.consumer_name,
            min_idle_time=self.idle_timeout,
            count=self.unacknowledged_batch_size,
        )
        return [(entry_id, fields) for entry_id, fields in reply[1] if fields]

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        """Yield due retries, abandoned entries and new entries; wait out a Redis outage."""
        async with self._redis() as redis:
            while True:
                try:
                    await self._promote_due(redis)
                    entries = await self._reclaim(redis)
                    fetched: Any = await redis.xreadgroup(
                        self.consumer_group_name,
                        self.consumer_name,
                        {self.queue_name: ">"},
                        block=self.block,
                        count=self.count,
                    )
                except (ConnectionError, TimeoutError, RedisClusterException) as error:
                    log.warning(
                        "mail queue: Redis unreachable (%s); trying again in 1 s", type(error).__name__
                    )
                    await asyncio.sleep(1)
                    continue
                for _stream, stream_entries in fetched or ():
                    entries.extend(stream_entries)
                for entry_id, fields in entries:
                    yield AckableMessage(
                        data=fields[b"data"], ack=self._ack_generator(id=entry_id, queue_name=self.queue_name)
                    )


def build_broker(settings: MailSettings) -> MailBroker:
    """The broker with the delivery task; the same for the service (to queue) and the worker (to run)."""
    broker = MailBroker(settings)

    @broker.task(task_name=DELIVER_TASK)
    async def deliver(raw: str, kind: str, link: str | None = None, attempt: int = 1) -> None:
        """One attempt; a failure worth retrying queues the next attempt after the backoff."""
        try:
            await hand_over(settings, raw, kind, link)
        except PermanentFailure as failure:
            log.error("mail %s not delivered: %s", kind, failure)
        except Exception as failure:  # the relay is down, slow or refusing for now
            reason = f"{type(failure).__name__}: {failure}"[:200]
            if attempt >= settings.max_attempts:
                log.error("mail %s not delivered after %d attempts: %s", kind, attempt, reason)
                return
            delay = settings.retry_delay(attempt)
            log.warning("mail %s attempt %d failed (%s); next in %.1f s", kind, attempt, reason, delay)
            later: AsyncKicker[Any, Any] = AsyncKicker(
                DELIVER_TASK, broker, {NOT_BEFORE: time.time() + delay}
            )
            await later.kiq(raw, kind, link, attempt + 1)

    @broker.task(task_name=DISCARD_TASK)
    async def discard(raw: str, kind: str, link: str | None = None, attempt: int = 1) -> None:
        """Nothing: the mail of a request that must look like one that sends (no log line either)."""

    return broker


async def enqueue_mail(broker: MailBroker, mail: Mail, *, discard: bool = False) -> str:
    """Queue a mail and return its task id: one Redis write, never a wait on SMTP.

    DependencyDown (503) when Redis cannot take it: the caller's request fails
    rather than pretending the mail will go out.
    """
    kicker: AsyncKicker[Any, Any] = AsyncKicker(DISCARD_TASK if discard else DELIVER_TASK, broker, {})
    try:
        task = await kicker.kiq(mail.message.as_string(), mail.kind, mail.link)
    except (SendTaskError, RedisError, OSError) as error:
        raise DependencyDown("the mail queue is unavailable", dependency="redis") from error
    return str(task.task_id)
