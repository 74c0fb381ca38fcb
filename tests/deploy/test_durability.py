"""A 2xx means stored: kill -9 right after it and the data is there after a restart.

kill -9 shows the commit happened before the answer, not in a buffer of the
process; surviving power loss is what SQLite's ``synchronous=FULL`` and
PostgreSQL's fsync are for, and the first is checked directly.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import text

from service.db import Database
from tests.conftest import base_settings
from tests.factories import PASSWORD, logged_in_user, random_username
from tests.support.faults import postgres_database
from tests.support.processes import ROOT, free_port, migrate, wait_until
from tests.support.served import ServedProcess

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
ME = "/api/v1/users/me"


@pytest.fixture(params=["sqlite", "postgresql"])
def durable_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'durable.db'}"
        migrate(url)
        yield url
    else:
        with postgres_database() as url:
            yield url


def test_a_201_survives_kill_9_of_the_server(
    serve_process: Callable[..., ServedProcess], durable_url: str
) -> None:
    served = serve_process(durable_url, workers=2)
    names = [random_username("durable") for _ in range(10)]
    with httpx.Client(base_url=served.url, timeout=15) as client:
        for name in names:
            assert client.post(REGISTER, json={"username": name, "password": PASSWORD}).status_code == 201
    served.kill()  # SIGKILL to the server and its workers, straight after the last 201

    served.start()
    with httpx.Client(base_url=served.url, timeout=15) as client:
        for name in names:
            assert client.post(LOGIN, json={"username": name, "password": PASSWORD}).status_code == 200


def test_sqlite_commits_are_synced_to_disk(tmp_path: Path, redis_url: str) -> None:
    """Every pooled SQLite connection runs in WAL mode with synchronous=FULL."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'pragmas.db'}"
    migrate(url)

    async def pragmas() -> tuple[str, int]:
        db = Database(base_settings(url, redis_url))
        try:
            async with db.reader() as conn:
                mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar_one()
                synchronous = (await conn.execute(text("PRAGMA synchronous"))).scalar_one()
        finally:
            await db.close()
        return mode, synchronous

    assert asyncio.run(pragmas()) == ("wal", 2)  # 2 = FULL


class _AofRedis:
    """A redis-server run with the shipped config/redis.conf (append-only file), on a port of its own."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.command = [
            binary, str(ROOT / "config/redis.conf"),
            "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(directory), "--save", "",
        ]  # fmt: skip
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_until(self._answers)

    def _answers(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)
        self.process = None


def test_sessions_and_logouts_survive_kill_9_of_redis(
    serve_process: Callable[..., ServedProcess], tmp_path: Path
) -> None:
    """With AOF a login outlives a Redis crash, and so does a logout.

    Fails now and then with ``appendfsync everysec`` on a busy disk: Redis then
    answers before it has written the command to the file (see config/redis.conf).
    """
    store = _AofRedis(tmp_path)
    try:
        served = serve_process(redis_url=store.url)
        with httpx.Client(base_url=served.url, timeout=15) as client:
            kept, ended = logged_in_user(client), logged_in_user(client)
            assert client.post("/api/v1/auth/logout", headers=ended.auth).status_code == 204
            store.kill()
            store.start()
            assert client.get(ME, headers=kept.auth).status_code == 200
            assert client.get(ME, headers=ended.auth).status_code == 401
    finally:
        if store.process is not None:
            store.kill()


def test_the_shipped_redis_keeps_its_data_and_never_evicts() -> None:
    """docker-compose and `make run`'s Redis both use AOF, fsynced before answering, and noeviction."""
    source = (ROOT / "scripts/ensure_redis.py").read_text()
    assert '"--appendonly", "yes"' in source
    assert '"--appendfsync", "always"' in source
    assert '"--maxmemory-policy", "noeviction"' in source
    # docker-compose.yml starts Redis with config/redis.conf (tests/deploy/test_compose.py
    # runs redis-server with it and reads the settings back).
    assert "./config/redis.conf:" in (ROOT / "docker-compose.yml").read_text()
    lines = (ROOT / "config/redis.conf").read_text().splitlines()
    assert "appendonly yes" in lines
    assert "appendfsync always" in lines
    assert "maxmemory-policy noeviction" in lines
