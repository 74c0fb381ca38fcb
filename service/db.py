"""The database engines of one serving process, opened on the server's loop.

Writes go through the async engine (aiosqlite's thread for SQLite, asyncpg
for PostgreSQL). SQLite reads run inline on the loop through a sync engine
on the same file: in WAL mode a reader never waits for the writer and a
short indexed SELECT takes microseconds, while handing it to aiosqlite's
thread and back costs more than the statement (docs/performance.md). A
commit's fsync would stall the loop, so that connection is read-only.
PostgreSQL reads use the async engine's pool through its synchronous API
in the greenlet bridge's reused greenlets, rather than ``AsyncConnection``'s
new greenlet per call and task per close.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager, nullcontext
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, Executable, Result, event, make_url
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from config.settings import Settings
from service.errors import DependencyDown
from service.serving.bridge import run_bridged
from service.serving.queueing import turn

# A WAL reader waits only while a checkpoint resets the log or recovery
# runs; on the loop the wait stalls the worker, so it is bounded tightly
# (past it the read is a 503, like any locked database).
_INLINE_BUSY_TIMEOUT = 0.5


def create_engine(settings: Settings) -> AsyncEngine:
    """An engine with pool and timeout settings for the configured backend."""
    # For SQLite "timeout" is the busy timeout: writers queue behind each
    # other instead of failing with "database is locked". For asyncpg it
    # bounds connecting.
    connect_args: dict[str, Any] = {"timeout": settings.db_connect_timeout}
    if settings.is_postgres and settings.db_statement_timeout:
        # Enforced by the server, so a cancelled statement frees the backend
        # too, and surfaces as an OperationalError (a 503).
        milliseconds = int(settings.db_statement_timeout * 1000)
        connect_args["server_settings"] = {"statement_timeout": str(milliseconds)}
    options: dict[str, Any] = {
        "pool_pre_ping": settings.db_pool_pre_ping,
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_timeout": settings.db_pool_timeout,
        "pool_recycle": settings.db_pool_recycle,
        "connect_args": connect_args,
        # Parameters can hold password hashes and tokens; errors get logged.
        "hide_parameters": True,
    }
    if settings.database_url.startswith("postgresql+asyncpg"):
        # Bounds every command even when the network swallows the bytes.
        options["connect_args"]["command_timeout"] = settings.db_command_timeout
    if settings.is_postgres:
        # Reads, the hot path, run without BEGIN/ROLLBACK: one round trip per
        # query. Set on the engine, not per checkout, where switching it back
        # and forth costs CPU on every read (docs/performance.md). Units of
        # work ask for transactions (Database.unit_of_work).
        options["isolation_level"] = "AUTOCOMMIT"
    engine = create_async_engine(settings.database_url, **options)
    if settings.is_sqlite:
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def create_inline_reader(settings: Settings) -> Engine:
    """A sync engine on the SQLite file for reads on the loop: read-only, one connection."""
    url = make_url(settings.database_url).set(drivername="sqlite+pysqlite")
    timeout = min(settings.db_connect_timeout, _INLINE_BUSY_TIMEOUT)
    engine = create_sync_engine(
        url,
        # Database.reader keeps one connection open for every request of
        # this process: each statement runs to its end without yielding to
        # the loop, so no two requests are inside one at once.
        pool_size=1,
        # A checkout must never wait on the loop: should one ever happen with
        # the kept connection out, it gets a connection of its own.
        max_overflow=-1,
        pool_pre_ping=False,
        connect_args={"timeout": timeout, "check_same_thread": False},
        hide_parameters=True,
    )
    event.listen(engine, "connect", _sqlite_read_only)
    return engine


def _sqlite_read_only(dbapi_connection: Any, record: Any) -> None:
    _sqlite_pragmas(dbapi_connection, record)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; synchronous=FULL makes a
    # commit durable before the 2xx that reports it.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


@contextmanager
def _faults_named() -> Iterator[None]:
    # asyncpg lets socket errors and its command timeout through unwrapped;
    # name them here so the client hears which dependency is down.
    try:
        yield
    except (OSError, TimeoutError) as error:
        raise DependencyDown(_DOWN, dependency="database") from error
    except DBAPIError as error:
        # A connection lost mid-statement comes as a plain DBAPIError with
        # SQLSTATE class 08 (connection exception), not always invalidated.
        if not str(getattr(error.orig, "sqlstate", "") or "").startswith("08"):
            raise
        raise DependencyDown(_DOWN, dependency="database") from error


_DOWN = "database is unavailable, try again shortly"


class Reader(Protocol):
    """What ``Database.reader`` yields: statements executed one at a time, results read at once."""

    async def execute(
        self, statement: Executable, parameters: dict[str, Any] | None = None
    ) -> Result[Any]: ...


class _InlineReader:
    """A sync SQLite connection behind the ``Reader`` interface; ``execute`` never suspends."""

    __slots__ = ("_connection", "_results")

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._results: list[Result[Any]] = []

    async def execute(self, statement: Executable, parameters: dict[str, Any] | None = None) -> Result[Any]:
        result = self._connection.execute(statement, parameters)
        self._results.append(result)
        return result

    def finish(self) -> None:
        # A statement left unfinished would keep its snapshot of the file
        # open, and later reads on the connection would not see new commits.
        for result in self._results:
            result.close()


class _BridgedReader:
    """A pooled connection of the async engine, used through its synchronous API under ``run_bridged``.

    What ``AsyncConnection`` does, less a new greenlet for each call (its
    checkout, every execute, its return): a reused greenlet of the bridge
    carries each, and the result is the same buffered one.
    """

    __slots__ = ("_connection", "_engine")

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._connection: Connection | None = None

    async def execute(self, statement: Executable, parameters: dict[str, Any] | None = None) -> Result[Any]:
        if self._connection is None:
            self._connection = await run_bridged(self._engine.connect)
        return await run_bridged(self._connection.execute, statement, parameters)

    async def close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await run_bridged(connection.close)


async def _to_completion(cleanup: Coroutine[Any, Any, None]) -> None:
    """Await ``cleanup`` to its end even if this task is cancelled meanwhile; then re-raise that."""
    task = asyncio.ensure_future(cleanup)
    cancelled: asyncio.CancelledError | None = None
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError as error:
            cancelled = error
    if cancelled is not None:
        raise cancelled


class Database:
    """The engine and session factory of one serving process."""

    def __init__(self, settings: Settings) -> None:
        self.engine = create_engine(settings)
        # PostgreSQL connections are in autocommit mode by default (reads);
        # a unit of work checks one out in a real transaction. SQLite's
        # driver never sends BEGIN before a SELECT, so it needs neither.
        writer = self.engine
        if settings.is_postgres:
            writer = self.engine.execution_options(isolation_level="READ COMMITTED")
        self._units = async_sessionmaker(writer, expire_on_commit=False)
        # One slot per pooled connection, taken first: see service/serving/queueing.py.
        self._slots = asyncio.Semaphore(settings.db_pool_size + settings.db_max_overflow)
        self._slot_timeout = settings.db_pool_timeout
        # SQLite has one writer at a time, and its busy handler polls rather
        # than queues: writers wait their turn here, in arrival order, so few
        # poll (docs/performance.md, "SQLite writers").
        self._writers = asyncio.Semaphore(1) if settings.is_sqlite else None
        self._inline: Engine | None = None
        self._reading: Connection | None = None
        if settings.is_sqlite and make_url(settings.database_url).database not in (None, "", ":memory:"):
            self._inline = create_inline_reader(settings)

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """A unit of work: commit on success, roll back on error."""
        with _faults_named():
            slot = turn(self._slots, self._slot_timeout)
            async with self._write_turn(), slot, self._units() as unit, unit.begin():
                yield unit

    def _write_turn(self) -> AbstractAsyncContextManager[None]:
        if self._writers is None:
            return nullcontext()
        return turn(self._writers, self._slot_timeout)

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[Reader]:
        """A connection for single-statement reads, with no transaction around them.

        Read every result inside the block: the connection goes back when it ends.
        """
        with _faults_named():
            if self._inline is not None:
                # One connection kept open, not checked out of the pool and
                # back (with its rollback) per read. pysqlite opens no
                # transaction for a SELECT, so each statement sees every
                # commit made before it.
                kept = self._reading or self._open_reading()
                reader = _InlineReader(kept)
                try:
                    yield reader
                except DBAPIError:
                    self._reading = None  # a fresh connection for the next read
                    kept.close()
                    raise
                finally:
                    if not kept.closed:
                        reader.finish()
                return
            async with turn(self._slots, self._slot_timeout):
                pooled = _BridgedReader(self.engine.sync_engine)
                try:
                    yield pooled
                except BaseException:
                    # A cancelled request still gives its connection back
                    # (an invalidated one's close awaits the driver).
                    await _to_completion(pooled.close())
                    raise
                await pooled.close()  # awaits nothing for a healthy connection: no task needed

    def _open_reading(self) -> Connection:
        assert self._inline is not None
        self._reading = self._inline.connect()
        return self._reading

    async def close(self) -> None:
        if self._reading is not None:
            self._reading.close()
            self._reading = None
        if self._inline is not None:
            self._inline.dispose()
        await self.engine.dispose()
