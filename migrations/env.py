"""Alembic environment: async migrations against DATABASE_URL."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from alembic import context
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine

import service.auth.events.records  # registers the tables (security_events)
import service.auth.mfa.models
import service.auth.tokens.models
import service.notes.models
import service.users.models  # noqa: F401
from config.startup import StartupError, check_database
from service.logs import configure_process_logging, load_settings_or_log
from service.models import Base

log = logging.getLogger("service.migrations")
config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    # JSON lines on stderr, like the server's; alembic's own progress lines too.
    configure_process_logging()
    logging.getLogger("alembic").setLevel(logging.INFO)


def database_url() -> str:
    """Tests pass their own URL; everyone else gets DATABASE_URL, checked as the server checks it."""
    given: str | None = config.attributes.get("database_url")
    if given:
        return given
    settings = load_settings_or_log()
    try:
        check_database(settings)
    except StartupError as error:  # one line, not a driver's traceback
        log.critical("cannot migrate: %s", error)
        raise SystemExit(2) from None
    return settings.database_url


def _ensure_sqlite_directory(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def _migrate(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things in place
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations(url: str) -> None:
    _ensure_sqlite_directory(url)
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_migrate)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=database_url(), target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    # The URL is checked before this loop starts: the check runs a loop of its own.
    asyncio.run(run_async_migrations(database_url()))
