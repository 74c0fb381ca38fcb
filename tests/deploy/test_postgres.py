"""The database layer on either backend: pool settings, and PostgreSQL's statement timeout."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from flask import Flask
from sqlalchemy import text

from config.settings import Settings
from service.db import create_engine
from service.resources import Api, AsyncResource, operation
from service.serving import runtime
from tests.support.databases import Databases
from tests.support.live import LiveServer


def test_pool_size_overflow_pre_ping_and_timeouts_come_from_settings(database_url: str) -> None:
    settings = Settings(
        database_url=database_url,
        db_pool_size=3,
        db_max_overflow=2,
        db_pool_timeout=1.5,
        db_pool_pre_ping=True,
        db_pool_recycle=60,
    )

    async def inspect() -> dict[str, Any]:
        engine = create_engine(settings)
        try:
            pool: Any = engine.pool
            return {
                "size": pool.size(),
                "overflow": pool._max_overflow,
                "timeout": pool._timeout,
                "pre_ping": pool._pre_ping,
                "recycle": pool._recycle,
            }
        finally:
            await engine.dispose()

    assert asyncio.run(inspect()) == {
        "size": 3,
        "overflow": 2,
        "timeout": 1.5,
        "pre_ping": True,
        "recycle": 60,
    }


class _SlowQuery(AsyncResource):
    @operation("/slow", "A statement longer than the statement timeout", documented=False)
    async def get(self) -> Any:
        async with runtime.current().db.reader() as conn:
            await conn.execute(text("SELECT pg_sleep(30)"))
        return {"slept": True}


def _add_slow_route(app: Flask) -> None:
    Api(app).add_resource(_SlowQuery, "/slow", endpoint="slow")


def test_a_statement_past_the_timeout_is_cancelled_and_answered_503(
    databases: Databases, make_server: Callable[..., LiveServer]
) -> None:
    if not databases.is_postgres:
        pytest.skip("statement timeouts are PostgreSQL's; set TEST_DATABASE_URL to run this")
    server = make_server(configure=_add_slow_route, db_statement_timeout=0.2)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        response = client.get("/slow")
        assert response.status_code == 503
        assert response.headers["Content-Type"] == "application/problem+json"
        # The cancelled statement freed its connection: the service still answers.
        assert client.get("/readyz").status_code == 200
