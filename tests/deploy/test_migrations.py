"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

import asyncio
import re

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine

import service.notes.models
import service.users.models  # noqa: F401
from service.models import Base
from tests.support.processes import migrate


def _differences(url: str) -> list:
    async def compare() -> list:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:

                def diff(sync: Connection) -> list:
                    return compare_metadata(MigrationContext.configure(sync), Base.metadata)

                return await conn.run_sync(diff)
        finally:
            await engine.dispose()

    return asyncio.run(compare())


# SQLite reflection cannot see expression indexes (lower(username)); that one
# is checked by the case-insensitive uniqueness test instead.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
def test_migrated_schema_matches_the_models(database_url: str) -> None:
    # database_url is already migrated, on SQLite or PostgreSQL (TEST_DATABASE_URL).
    assert _differences(database_url) == []


def _run(url: str, statements: list[str]) -> list[list[tuple]]:
    """Run each statement in one transaction; the rows of each."""

    async def run() -> list[list[tuple]]:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                results = [await conn.execute(text(statement)) for statement in statements]
                return [list(result.all()) if result.returns_rows else [] for result in results]
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _columns(url: str) -> set[str]:
    async def names() -> set[str]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda sync: {c["name"] for c in inspect(sync).get_columns("users")}
                )
        finally:
            await engine.dispose()

    return asyncio.run(names())


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
def test_account_keys_are_added_to_existing_users_each_its_own_and_removed_on_downgrade(
    database_url: str,
) -> None:
    migrate(database_url, "0002")  # down from the newest schema: the downgrade works
    assert "account_key" not in _columns(database_url)
    _run(
        database_url,
        [
            "INSERT INTO users (username, password_hash, created_at) VALUES"
            " ('ann', 'h1', '2026-01-01 00:00:00'), ('bob', 'h2', '2026-01-01 00:00:00'),"
            " ('cyd', 'h3', '2026-01-01 00:00:00')",
            "INSERT INTO notes (user_id, title, body, created_at, updated_at)"
            " VALUES (2, 'kept', 'b', '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
        ],
    )
    migrate(database_url)
    [users, notes] = _run(
        database_url,
        [
            "SELECT id, username, password_hash, account_key FROM users ORDER BY id",
            "SELECT user_id, title FROM notes",
        ],
    )
    assert [row[:3] for row in users] == [(1, "ann", "h1"), (2, "bob", "h2"), (3, "cyd", "h3")]
    keys = [row[3] for row in users]
    assert all(re.fullmatch(r"[0-9a-f]{32}", key) for key in keys)
    assert len(set(keys)) == 3
    assert notes == [(2, "kept")]  # rebuilding users on SQLite kept the notes pointing at it
    # The column is NOT NULL, and the case-insensitive unique index survived the rebuild.
    for insert in (
        "INSERT INTO users (username, password_hash, created_at) VALUES ('dee', 'h', '2026-01-01 00:00:00')",
        "INSERT INTO users (username, password_hash, created_at, account_key)"
        " VALUES ('ANN', 'h', '2026-01-01 00:00:00', 'k')",
    ):
        with pytest.raises(IntegrityError):
            _run(database_url, [insert])

    migrate(database_url, "0002")
    assert "account_key" not in _columns(database_url)
    [after] = _run(database_url, ["SELECT id, username, password_hash FROM users ORDER BY id"])
    assert after == [row[:3] for row in users]
    with pytest.raises(IntegrityError):
        _run(
            database_url,
            ["INSERT INTO users (username, password_hash, created_at) VALUES ('Bob', 'h', '2026-01-01')"],
        )
    migrate(database_url)
    assert _differences(database_url) == []
