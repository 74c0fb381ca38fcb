"""Fixtures: a private Redis, migrated databases (SQLite, or PostgreSQL) and live hypercorn servers.

Error behaviour is tested as production runs it: APP_ENV=production.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from cryptography.fernet import Fernet
from flask import Flask

from config.settings import Settings
from tests.support.live import LiveServer
from tests.support.private_redis import private_redis  # noqa: F401  (a fixture)
from tests.support.processes import RedisServer, migrate
from tests.support.signing import default_key_path

pytest_plugins = [
    "tests.support.cluster",
    "tests.support.databases",
    "tests.support.nginx",
    "tests.support.sentinel",
    "tests.support.served",  # serve_process (issue 6)
]

if TYPE_CHECKING:
    from tests.support.databases import Databases


@pytest.fixture(scope="session")
def redis_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The six-node cluster with --redis-cluster, Sentinel with --redis-sentinel, else TEST_REDIS_URL,
    else a session redis-server."""
    if request.config.getoption("--redis-cluster"):
        yield request.getfixturevalue("redis_cluster").url
        return
    if request.config.getoption("--redis-sentinel"):
        yield request.getfixturevalue("redis_sentinel").url
        return
    if os.environ.get("TEST_REDIS_URL"):
        yield os.environ["TEST_REDIS_URL"]
        return
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server.url
    server.stop()


@pytest.fixture
def single_node_redis_url(request: pytest.FixtureRequest, redis_url: str, tmp_path: Path) -> Iterator[str]:
    """``redis_url``, or with --redis-cluster or --redis-sentinel a private single node.

    For tests that put a relay in front of Redis: a cluster client follows the
    node addresses CLUSTER SLOTS gives, and a Sentinel client the master's
    address, past any relay.
    """
    if not (request.config.getoption("--redis-cluster") or request.config.getoption("--redis-sentinel")):
        yield redis_url
        return
    directory = tmp_path / "single-node-redis"
    directory.mkdir()
    server = RedisServer(directory)
    yield server.url
    server.stop()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A freshly migrated SQLite file for one test."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'service.db'}"
    migrate(url)
    return url


def base_settings(database_url: str, redis_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "app_env": "production",
        "secret_key": secrets.token_urlsafe(48),
        "database_url": database_url,
        "redis_url": redis_url,
        "bcrypt_rounds": 4,  # the cost is a setting; tests need speed, not strength
        "bcrypt_threads": 2,
        "signing_keys": default_key_path(),
        "mfa_encryption_keys": Fernet.generate_key().decode(),  # second factor: production needs one
    }
    values.update(overrides)
    return Settings(**values).validated()  # type: ignore[arg-type]


@pytest.fixture
def make_server(databases: Databases, redis_url: str) -> Iterator[Callable[..., LiveServer]]:
    """Start live servers with custom settings; all are stopped after the test."""
    started: list[LiveServer] = []
    made: list[str] = []

    def start(
        database_url: str | None = None, configure: Callable[[Flask], None] | None = None, **overrides: object
    ) -> LiveServer:
        if database_url is None:
            database_url = databases.new()
            made.append(database_url)
        redis = str(overrides.pop("redis_url", redis_url))  # e.g. a private_redis or a Sentinel URL
        server = LiveServer(base_settings(database_url, redis, **overrides), configure)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
    for url in made:
        databases.release(url)


@pytest.fixture(scope="session")
def server(databases: Databases, redis_url: str) -> Iterator[LiveServer]:
    """One live server shared by the tests that only need the defaults."""
    live = LiveServer(base_settings(databases.new(), redis_url))
    yield live
    live.stop()


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http
