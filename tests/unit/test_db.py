"""Transactions where they matter: units of work are atomic, hot-path reads are one round trip."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

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

    async def scenario() -> tuple[bool, bool]:
        db = Database(base_settings(database_url, redis_url))
        try:
            async with db.reader() as connection:
                await connection.execute(select(func.count()).select_from(User))
                raw = await connection.get_raw_connection()
                reading = raw.driver_connection.is_in_transaction()
            async with db.unit_of_work() as session:
                await session.execute(select(func.count()).select_from(User))
                raw = await (await session.connection()).get_raw_connection()
                writing = raw.driver_connection.is_in_transaction()
            return reading, writing
        finally:
            await db.close()

    assert asyncio.run(scenario()) == (False, True)
