"""The database refused, reset, hanging or locked: 503 in bounded time, recovery, nothing half-written.

PostgreSQL is cut for real by a TCP proxy in front of the machine's server
(or TEST_DATABASE_URL's); SQLite is locked by a second, real connection.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import base_settings
from tests.factories import PASSWORD, assert_problem, logged_in_user, random_username
from tests.support.faults import FaultProxy, postgres_database
from tests.support.live import LiveServer
from tests.support.processes import migrate

ME = "/api/v1/users/me"
LOGIN = "/api/v1/auth/login"
REGISTER = "/api/v1/auth/register"
NOTES = "/api/v1/notes"
# Short command and pool timeouts keep each faulty request short. Connecting
# keeps the default: after the heal the first request opens a new connection
# through the proxy, and on a loaded machine that took over 1 s (a 503 there).
TIMEOUTS = {"db_connect_timeout": 5.0, "db_pool_timeout": 1.0, "db_command_timeout": 1.0}
BOUND = httpx.Timeout(20.0)


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


@pytest.fixture
def pg_proxy(pg_url: str) -> Iterator[FaultProxy]:
    proxy = FaultProxy.for_url(pg_url)
    yield proxy
    proxy.close()


@pytest.fixture
def cut_server(pg_url: str, pg_proxy: FaultProxy, redis_url: str) -> Iterator[LiveServer]:
    """A live server whose PostgreSQL traffic goes through ``pg_proxy``."""
    live = LiveServer(base_settings(pg_proxy.url_through(pg_url), redis_url, **TIMEOUTS))
    yield live
    live.stop()


def row_count(database_url: str, table: str, column: str, value: str) -> int:
    """Ask the database directly, not through the service under test."""

    async def count() -> int:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as conn:
                query = text(f"SELECT count(*) FROM {table} WHERE {column} = :value")
                return (await conn.execute(query, {"value": value})).scalar_one()
        finally:
            await engine.dispose()

    return asyncio.run(count())


def user_count(database_url: str, username: str) -> int:
    return row_count(database_url, "users", "username", username)


@pytest.mark.parametrize("mode", ["refuse", "reset", "hang"])
def test_postgres_fault_gives_503_then_heals(
    cut_server: LiveServer, pg_proxy: FaultProxy, pg_url: str, mode: str
) -> None:
    with httpx.Client(base_url=cut_server.url, timeout=BOUND) as client:
        account = logged_in_user(client)
        lost = random_username("lost")
        with pg_proxy.fault(mode):  # type: ignore[arg-type]
            for _ in range(2):  # pooled connections first, then new ones
                body = assert_problem(client.get(ME, headers=account.auth), 503)
                assert "database" in body["detail"]
            credentials = {"username": account.username, "password": account.password}
            assert_problem(client.post(LOGIN, json=credentials), 503)
            assert_problem(client.post(REGISTER, json={"username": lost, "password": PASSWORD}), 503)
            note = {"title": "lost", "body": "never stored"}
            assert_problem(client.post(NOTES, json=note, headers=account.auth), 503)
            ready = assert_problem(client.get("/readyz"), 503)
            assert "database" in ready["detail"]
            assert "redis" not in ready["detail"]
            assert client.get("/healthz").status_code == 200

        assert client.get(ME, headers=account.auth).status_code == 200
        assert client.get("/readyz").status_code == 200
        assert client.post(LOGIN, json=credentials).status_code == 200
        # The register that failed left nothing: the name is still free.
        assert user_count(pg_url, lost) == 0
        assert client.post(REGISTER, json={"username": lost, "password": PASSWORD}).status_code == 201
        assert user_count(pg_url, lost) == 1
        assert client.get(NOTES, headers=account.auth).json()["items"] == []
    assert cut_server.runtime.opened == 1


def test_sqlite_locked_by_another_writer_gives_503_and_writes_nothing(
    tmp_path,  # type: ignore[no-untyped-def]
    redis_url: str,
) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'service.db'}"
    migrate(database_url)
    live = LiveServer(base_settings(database_url, redis_url, **TIMEOUTS))
    path = make_url(database_url).database
    try:
        with httpx.Client(base_url=live.url, timeout=BOUND) as client:
            account = logged_in_user(client)
            lost = random_username("lost")
            blocker = sqlite3.connect(path, isolation_level=None)
            blocker.execute("BEGIN EXCLUSIVE")
            try:
                body = assert_problem(
                    client.post(REGISTER, json={"username": lost, "password": PASSWORD}), 503
                )
                assert "database" in body["detail"]
            finally:
                blocker.execute("ROLLBACK")
                blocker.close()
            assert client.get(ME, headers=account.auth).status_code == 200
            with sqlite3.connect(path) as check:
                found = check.execute("SELECT count(*) FROM users WHERE username = ?", (lost,)).fetchone()
            assert found == (0,)
            assert client.post(REGISTER, json={"username": lost, "password": PASSWORD}).status_code == 201
    finally:
        live.stop()


def test_registers_cut_mid_flight_are_all_or_nothing(
    cut_server: LiveServer, pg_proxy: FaultProxy, pg_url: str
) -> None:
    """Faults land while writes are in flight: every 201 is stored, every failure stored nothing."""
    answers: dict[str, int] = {}
    with httpx.Client(base_url=cut_server.url, timeout=BOUND) as client:
        author = logged_in_user(client)

    def register() -> None:
        name = random_username("flap")
        with httpx.Client(base_url=cut_server.url, timeout=BOUND) as client:
            response = client.post(REGISTER, json={"username": name, "password": PASSWORD})
        if response.status_code != 201:
            assert_problem(response, 503)
        answers[name] = response.status_code

    def create_note() -> None:
        title = random_username("note")
        with httpx.Client(base_url=cut_server.url, timeout=BOUND) as client:
            response = client.post(NOTES, json={"title": title, "body": "x"}, headers=author.auth)
        if response.status_code != 201:
            assert_problem(response, 503)
        notes[title] = response.status_code

    notes: dict[str, int] = {}
    with ThreadPoolExecutor(6) as pool:
        for mode in ("reset", "refuse", "hang"):
            in_flight = [pool.submit(write) for write in (register, create_note) * 2]
            pg_proxy.set_mode(mode)  # type: ignore[arg-type]
            during = [pool.submit(write) for write in (register, create_note)]
            for future in in_flight + during:
                future.result()
            pg_proxy.set_mode("pass")
            for future in [pool.submit(write) for write in (register, create_note)]:
                future.result()
    stored = {name: user_count(pg_url, name) for name in answers}
    assert stored == {name: 1 if status == 201 else 0 for name, status in answers.items()}
    assert sorted(set(answers.values())) == [201, 503]
    stored_notes = {title: row_count(pg_url, "notes", "title", title) for title in notes}
    assert stored_notes == {title: 1 if status == 201 else 0 for title, status in notes.items()}


def test_a_burst_against_hung_postgres_waits_for_the_pool_then_gets_503(
    pg_url: str, pg_proxy: FaultProxy, redis_url: str
) -> None:
    """More requests than pooled connections: the rest wait DB_POOL_TIMEOUT, then 503."""
    settings = base_settings(
        pg_proxy.url_through(pg_url), redis_url, db_pool_size=1, db_max_overflow=1, **TIMEOUTS
    )
    live = LiveServer(settings)
    try:
        with httpx.Client(base_url=live.url, timeout=BOUND) as client:
            account = logged_in_user(client)

        def me(_: int) -> httpx.Response:
            return httpx.get(f"{live.url}{ME}", headers=account.auth, timeout=BOUND)

        with pg_proxy.fault("hang"), ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(me, range(8)))
        for answer in answers:
            assert "database" in assert_problem(answer, 503)["detail"]
        with httpx.Client(base_url=live.url, timeout=BOUND) as client:
            assert client.get(ME, headers=account.auth).status_code == 200
    finally:
        live.stop()
