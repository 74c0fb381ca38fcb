"""Pooled connections go to waiting requests in the order they asked (service/queueing.py).

Each test holds the only connection of a pool, queues three waiters, then
lets a latecomer ask at the worst moment: in the same loop step as the
release, before the first waiter has run. Served first come, first served,
the latecomer is last; a pool that lets it barge in sends the first waiter
to the back of the queue, which under sustained load starves requests until
they fail with 503. The database's pooled connections are the units of
work's: SQLite reads run inline and never wait for one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import text

from service.db import Database
from service.errors import DependencyDown
from service.redis import create_redis
from tests.conftest import base_settings

Hold = Callable[[str, asyncio.Event, Callable[[], None]], Awaitable[None]]


async def _order_served(hold: Hold) -> list[str]:
    """Who got the connection, in order, when A releases it just as E asks."""
    served: list[str] = []
    release_a = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    async def user(name: str, done: asyncio.Event) -> None:
        await hold(name, done, latecomer if name == "A" else lambda: None)
        served.append(name)

    def latecomer() -> None:
        # Called by A right before it releases, in the same loop step: E is
        # scheduled ahead of the waiter the release wakes.
        tasks.append(asyncio.create_task(user("E", _set())))

    tasks.append(asyncio.create_task(user("A", release_a)))
    await asyncio.sleep(0.05)  # A holds the only connection
    for name in "BCD":
        tasks.append(asyncio.create_task(user(name, _set())))
        await asyncio.sleep(0.05)  # each queued behind the previous one
    release_a.set()
    while not all(task.done() for task in tasks):
        await asyncio.gather(*tasks)
    return served


def _set() -> asyncio.Event:
    event = asyncio.Event()
    event.set()
    return event


def test_redis_connections_go_to_waiters_in_arrival_order(redis_url: str, sqlite_url: str) -> None:
    asyncio.run(_redis_order(redis_url, sqlite_url))


async def _redis_order(redis_url: str, sqlite_url: str) -> None:
    client = create_redis(base_settings(sqlite_url, redis_url, redis_max_connections=1))
    pool = client.connection_pool

    async def hold(name: str, done: asyncio.Event, before_release: Callable[[], None]) -> None:
        connection = await pool.get_connection()
        await done.wait()
        before_release()
        await pool.release(connection)

    try:
        assert await _order_served(hold) == ["A", "B", "C", "D", "E"]
        assert await client.ping()  # every slot came back: the pool still serves
    finally:
        await client.aclose()


def test_database_connections_go_to_waiters_in_arrival_order(redis_url: str, sqlite_url: str) -> None:
    asyncio.run(_database_order(redis_url, sqlite_url))


async def _database_order(redis_url: str, sqlite_url: str) -> None:
    db = Database(base_settings(sqlite_url, redis_url, db_pool_size=1, db_max_overflow=0))

    async def hold(name: str, done: asyncio.Event, before_release: Callable[[], None]) -> None:
        async with db.unit_of_work() as unit:
            await unit.execute(text("SELECT 1"))
            await done.wait()
            before_release()

    try:
        assert await _order_served(hold) == ["A", "B", "C", "D", "E"]
    finally:
        await db.close()


def test_a_request_that_waits_past_the_pool_timeout_gets_503(redis_url: str, sqlite_url: str) -> None:
    asyncio.run(_pool_timeout(redis_url, sqlite_url))


async def _pool_timeout(redis_url: str, sqlite_url: str) -> None:
    settings = base_settings(sqlite_url, redis_url, db_pool_size=1, db_max_overflow=0, db_pool_timeout=0.2)
    db = Database(settings)
    held = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        async with db.unit_of_work():
            held.set()
            await release.wait()

    task = asyncio.create_task(holder())
    await held.wait()
    try:
        with pytest.raises(DependencyDown):
            async with db.unit_of_work():
                pass
        release.set()
        await task
        async with db.unit_of_work() as unit:  # the slot came back
            assert (await unit.execute(text("SELECT 1"))).scalar() == 1
    finally:
        await db.close()
