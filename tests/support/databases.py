"""Fresh migrated databases for tests: SQLite files, or PostgreSQL when TEST_DATABASE_URL is set.

Migrations run once per test session into a template; each test then gets a
copy (a file copy for SQLite, ``CREATE DATABASE ... TEMPLATE`` for
PostgreSQL), which is much faster than migrating again. Every PostgreSQL
database a run creates carries the run's own prefix and is dropped by it.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import Iterator
from itertools import count
from pathlib import Path

import pytest
from sqlalchemy import URL, make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.processes import migrate


class Databases:
    """Hands out freshly migrated databases of one backend."""

    def __init__(self, directory: Path, admin_url: str | None = None) -> None:
        self.directory = directory
        self.admin_url = make_url(admin_url) if admin_url else None
        self._numbers = count(1)
        self._dropping: list[str] = []
        self._created: list[str] = []
        if self.admin_url is None:
            self._template_file = directory / "template.db"
            migrate(f"sqlite+aiosqlite:///{self._template_file}")
        else:
            base = self.admin_url.database or "test"
            self.prefix = f"{base}_{os.getpid()}_{secrets.token_hex(3)}"
            self.template = f"{self.prefix}_template"
            self._admin(f'CREATE DATABASE "{self.template}"')
            self._created.append(self.template)
            migrate(self._url(self.template))

    @property
    def is_postgres(self) -> bool:
        return self.admin_url is not None

    def new(self) -> str:
        """The URL of a new database holding the newest schema and no rows."""
        number = next(self._numbers)
        if self.admin_url is None:
            path = self.directory / f"service-{number}.db"
            shutil.copyfile(self._template_file, path)
            return f"sqlite+aiosqlite:///{path}"
        self._drop_released()
        name = f"{self.prefix}_{number}"
        self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self._created.append(name)
        return self._url(name)

    def release(self, url: str) -> None:
        """The test that used ``url`` is over; drop it before the next one starts."""
        if self.admin_url is not None:
            self._dropping.append(make_url(url).database or "")

    def close(self) -> None:
        """Drop every database this run created."""
        if self.admin_url is not None:
            for name in reversed(self._created):
                self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            self._created.clear()

    def _drop_released(self) -> None:
        # Dropped lazily: by the next test's set-up every server of the last
        # one has stopped, so nothing is connected any more.
        while self._dropping:
            name = self._dropping.pop()
            self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            self._created.remove(name)

    def _url(self, name: str) -> str:
        assert self.admin_url is not None
        url: URL = self.admin_url.set(database=name)
        return url.render_as_string(hide_password=False)

    def _admin(self, statement: str) -> None:
        assert self.admin_url is not None
        # CREATE/DROP DATABASE cannot run while connected to the database in
        # question: use "postgres".
        run_admin(self.admin_url.set(database="postgres"), statement)


def run_admin(url: URL, statement: str) -> None:
    """Run one statement outside a transaction (CREATE/DROP DATABASE need that)."""

    async def run() -> None:
        engine = create_async_engine(url, isolation_level="AUTOCOMMIT", connect_args={"timeout": 5})
        try:
            async with engine.connect() as conn:
                await conn.execute(text(statement))
        finally:
            await engine.dispose()

    asyncio.run(run())


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Databases]:
    """The backend of this run: PostgreSQL when TEST_DATABASE_URL is set, else SQLite."""
    pool = Databases(tmp_path_factory.mktemp("databases"), os.environ.get("TEST_DATABASE_URL") or None)
    yield pool
    pool.close()


@pytest.fixture
def database_url(databases: Databases) -> Iterator[str]:
    """A freshly migrated database of the run's backend, for one test."""
    url = databases.new()
    yield url
    databases.release(url)
