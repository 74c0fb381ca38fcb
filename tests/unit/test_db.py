"""Transactions where they matter: units of work are atomic, hot-path reads are one round trip."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import OperationalError

from service.db import Database
from service.users.models import User
from tests.conftest import base_settings
from tests.support.databases import Databases


def test_a_unit_of_work_that_fails_stores_nothing(database_url: str, redis_url: str) -> None:
    async def scenario() -> int:
        db = Database(base_settings(database_url, redis_url))
        try:
            with pytest.raises(RuntimeError):
                async with db.unit_of_work() as session:
                    session.add(User(username="half-done", password_hash="x" * 60))
                    await session.flush()  # the INSERT has reached the database
                    raise RuntimeError("fails after its first statement")
            async with db.reader() as connection:
                return (await connection.execute(select(func.count()).select_from(User))).scalar_one()
        finally:
            await db.close()

    assert asyncio.run(scenario()) == 0


def test_postgres_reads_run_outside_a_transaction_and_writes_inside_one(
    databases: Databases, database_url: str, redis_url: str
) -> None:
    # Reads: no BEGIN and no ROLLBACK around the SELECT, one round trip.
    if not databases.is_postgres:
        pytest.skip("SQLite's driver sends no BEGIN before a SELECT")

    # The backend's own view: two statements in one transaction share its id.
    xid = text("SELECT txid_current()")

    async def scenario() -> tuple[bool, bool]:
        db = Database(base_settings(database_url, redis_url))
        try:
            async with db.reader() as connection:
                first = (await connection.execute(xid)).scalar_one()
                reading = (await connection.execute(xid)).scalar_one() == first
            async with db.unit_of_work() as session:
                first = (await session.execute(xid)).scalar_one()
                writing = (await session.execute(xid)).scalar_one() == first
            return reading, writing
        finally:
            await db.close()

    assert asyncio.run(scenario()) == (False, True)


def test_a_postgres_read_cancelled_or_failing_midway_gives_its_connection_back(
    databases: Databases, database_url: str, redis_url: str
) -> None:
    # A client that hangs up cancels its request's task mid-statement: with a
    # pool of one, a connection not given back would leave every later read
    # waiting out the pool timeout (503).
    if not databases.is_postgres:
        pytest.skip("SQLite reads run inline on the loop: nothing to cancel midway")

    async def scenario() -> list[int]:
        db = Database(base_settings(database_url, redis_url, db_pool_size=1, db_pool_timeout=2.0))
        answers = []
        try:
            for _ in range(3):

                async def slow() -> None:
                    async with db.reader() as connection:
                        await connection.execute(text("SELECT pg_sleep(10)"))

                task = asyncio.ensure_future(slow())
                await asyncio.sleep(0.3)  # the statement is running
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                # Given back at once, not when the garbage collector finds it.
                assert db.engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
                with pytest.raises(RuntimeError):
                    async with db.reader() as connection:
                        await connection.execute(text("SELECT 1"))
                        raise RuntimeError("the request fails between its statements")
                assert db.engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
                async with db.reader() as connection:
                    answers.append((await connection.execute(text("SELECT 1"))).scalar_one())
        finally:
            await db.close()
        return answers

    assert asyncio.run(asyncio.wait_for(scenario(), 20)) == [1, 1, 1]


def test_a_read_sees_the_write_committed_just_before_it(database_url: str, redis_url: str) -> None:
    # SQLite reads run on another connection than the writes: each statement
    # must still see every commit made before it.
    async def scenario() -> list[int]:
        db = Database(base_settings(database_url, redis_url))
        counts = []
        try:
            for number in range(3):
                async with db.unit_of_work() as session:
                    session.add(User(username=f"seen-{number}", password_hash="x" * 60))
                async with db.reader() as connection:
                    found = select(func.count()).select_from(User).where(User.username.like("seen-%"))
                    counts.append((await connection.execute(found)).scalar_one())
        finally:
            await db.close()
        return counts

    assert asyncio.run(scenario()) == [1, 2, 3]


def test_sqlite_reads_cannot_write(sqlite_url: str, redis_url: str) -> None:
    # The reads' connection runs on the event loop, where a commit's fsync
    # would stall every request of the worker.
    async def scenario() -> None:
        db = Database(base_settings(sqlite_url, redis_url))
        try:
            with pytest.raises(OperationalError, match="readonly"):
                async with db.reader() as connection:
                    await connection.execute(insert(User).values(username="sneaky", password_hash="x" * 60))
        finally:
            await db.close()

    asyncio.run(scenario())


def test_a_read_left_unfinished_does_not_hide_later_commits(sqlite_url: str, redis_url: str) -> None:
    # SQLite's reads share one connection: a result nobody read to its end
    # must not keep the next reads on an old snapshot of the file.
    async def scenario() -> int:
        db = Database(base_settings(sqlite_url, redis_url))
        try:
            async with db.unit_of_work() as session:
                session.add_all(User(username=f"early-{n}", password_hash="x" * 60) for n in range(3))
            async with db.reader() as connection:
                unread = await connection.execute(select(User.id))  # three rows, none fetched
            async with db.unit_of_work() as session:
                session.add(User(username="late", password_hash="x" * 60))
            async with db.reader() as connection:
                count = (await connection.execute(select(func.count()).select_from(User))).scalar_one()
            assert unread is not None  # still referenced: only the block's end finished it
            return count
        finally:
            await db.close()

    assert asyncio.run(scenario()) == 4


def test_sqlite_writers_queue_in_turn_instead_of_timing_out(sqlite_url: str, redis_url: str) -> None:
    # Twelve writers holding the lock 0.15 s each need 1.8 s in all, past
    # SQLite's 0.5 s busy timeout: polling in its busy handler, most would be
    # "database is locked" (a 503); queued in the worker, each gets its turn.
    async def scenario() -> list[str]:
        db = Database(base_settings(sqlite_url, redis_url, db_connect_timeout=0.5))

        async def write(n: int) -> None:
            async with db.unit_of_work() as session:
                session.add(User(username=f"writer-{n:02}", password_hash="x" * 60))
                await session.flush()  # the INSERT holds the write lock until the commit
                await asyncio.sleep(0.15)

        try:
            await asyncio.gather(*(write(n) for n in range(12)))
            async with db.reader() as connection:
                return list((await connection.execute(select(User.username).order_by(User.id))).scalars())
        finally:
            await db.close()

    assert asyncio.run(scenario()) == [f"writer-{n:02}" for n in range(12)]  # all of them, in arrival order
