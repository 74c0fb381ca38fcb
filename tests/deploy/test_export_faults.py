"""An export while PostgreSQL hangs: 503 before the first byte, a broken transfer midway, never short."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import base_settings
from tests.factories import assert_problem, logged_in_user
from tests.support.faults import FaultProxy, postgres_database
from tests.support.live import LiveServer

EXPORT = "/api/v1/users/me/export"
TIMEOUTS = {"db_connect_timeout": 5.0, "db_pool_timeout": 1.0, "db_command_timeout": 1.0}
NOTES = 20_000  # about 8 MB of JSON: more than the sockets between server and client buffer


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
    live = LiveServer(base_settings(pg_proxy.url_through(pg_url), redis_url, **TIMEOUTS))
    yield live
    live.stop()


def add_notes(database_url: str, user_id: int, count: int) -> None:
    """Insert directly, not through the service under test."""

    async def insert() -> None:
        engine = create_async_engine(database_url)
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    text(
                        "INSERT INTO notes (user_id, title, body, created_at, updated_at) "
                        "SELECT :uid, 'n' || i, repeat('x', 300), now(), now() FROM generate_series(1, :n) i"
                    ),
                    {"uid": user_id, "n": count},
                )
        finally:
            await engine.dispose()

    asyncio.run(insert())


def test_a_hung_database_before_the_export_starts_is_a_503(
    cut_server: LiveServer, pg_proxy: FaultProxy
) -> None:
    with httpx.Client(base_url=cut_server.url, timeout=20) as client:
        account = logged_in_user(client)
        with pg_proxy.fault("hang"):
            body = assert_problem(client.get(EXPORT, headers=account.auth), 503)
            assert "database" in body["detail"]
        assert client.get(EXPORT, headers=account.auth).json()["complete"] is True


def test_a_database_hanging_midway_breaks_the_transfer_instead_of_ending_it(
    cut_server: LiveServer, pg_proxy: FaultProxy, pg_url: str
) -> None:
    with httpx.Client(base_url=cut_server.url, timeout=20) as client:
        account = logged_in_user(client)
        add_notes(pg_url, account.id, NOTES)
        received = bytearray()
        with (
            pytest.raises(httpx.RemoteProtocolError),
            client.stream("GET", EXPORT, headers=account.auth) as response,
        ):
            assert response.status_code == 200
            pieces = response.iter_raw()
            received += next(pieces)
            pg_proxy.set_mode("hang")
            for piece in pieces:
                received += piece
        pg_proxy.set_mode("pass")
        assert b'"complete": true' not in received
        with pytest.raises(json.JSONDecodeError):
            json.loads(received)
        # Healed: the next export is whole.
        document = client.get(EXPORT, headers=account.auth).json()
        assert document["complete"] is True and len(document["notes"]) == NOTES
