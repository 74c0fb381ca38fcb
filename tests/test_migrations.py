"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

import service.notes.models
import service.users.models  # noqa: F401
from service.models import Base


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
