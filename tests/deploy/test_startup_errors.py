"""A server that cannot start says why in one line naming the setting, and exits with status 2."""

from __future__ import annotations

import json
import socket

import pytest

from tests.support.processes import free_port
from tests.support.served import run_serve

LOCAL_POSTGRES = ("127.0.0.1", 5432)


def _local_postgres() -> bool:
    try:
        socket.create_connection(LOCAL_POSTGRES, timeout=1).close()
    except OSError:
        return False
    return True


needs_postgres = pytest.mark.skipif(not _local_postgres(), reason="no PostgreSQL on 127.0.0.1:5432")


def _one_line(environ: dict[str, str]) -> str:
    result = run_serve({"PORT": str(free_port()), "DB_CONNECT_TIMEOUT": "3"} | environ)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    entry = json.loads(lines[0])  # one JSON line, as every line on stderr
    assert entry["level"] == "CRITICAL", entry
    return str(entry["message"])


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        (
            {"DATABASE_URL": "garbage"},
            "configuration error: DATABASE_URL is not a URL: expected e.g. "
            "sqlite+aiosqlite:///var/service.db or postgresql+asyncpg://user:password@host:5432/database",
        ),
        (
            {"DATABASE_URL": "mysql+aiomysql://app:hunter2@db/app"},
            "configuration error: DATABASE_URL must start with sqlite+aiosqlite:// or postgresql+asyncpg:// "
            "(the drivers the service ships), not 'mysql+aiomysql://'",
        ),
        (
            {"DATABASE_URL": "postgresql+asyncpg://app:hunter2@db:port/app"},
            "cannot start: DATABASE_URL is not a database URL: expected e.g. "
            "sqlite+aiosqlite:///var/service.db or postgresql+asyncpg://user:password@host:5432/database",
        ),
        ({"PORT": "99999"}, "configuration error: PORT must be between 1 and 65535"),
        ({"PORT": "http"}, "configuration error: PORT must be a whole number, not 'http'"),
        ({"WORKERS": "many"}, "configuration error: WORKERS must be a whole number, not 'many'"),
        ({"WORKERS": "-2"}, "configuration error: WORKERS must be 0 (one per CPU core) or more"),
        ({"GRACEFUL_TIMEOUT": "soon"}, "configuration error: GRACEFUL_TIMEOUT must be a number, not 'soon'"),
        (
            {"DB_POOL_PRE_PING": "maybe"},
            "configuration error: DB_POOL_PRE_PING must be true or false, not 'maybe'",
        ),
        (
            {"HOST": "no-such-host.invalid"},
            "cannot start: HOST 'no-such-host.invalid' is not an address or name of this machine: "
            "set HOST to 127.0.0.1, 0.0.0.0 or one of its addresses",
        ),
        (
            {"HOST": "192.0.2.1"},
            "cannot start: HOST 192.0.2.1 is not an address of this machine: "
            "set HOST to 127.0.0.1, 0.0.0.0 or one of its addresses",
        ),
    ],
)
def test_a_bad_setting_is_one_line(environ: dict[str, str], expected: str) -> None:
    assert _one_line(environ) == expected


def test_a_database_nobody_listens_on_is_one_line_without_the_password() -> None:
    port = free_port()
    line = _one_line({"DATABASE_URL": f"postgresql+asyncpg://app:hunter2@127.0.0.1:{port}/app"})
    assert line == (
        f"cannot start: DATABASE_URL: nothing listens on 127.0.0.1:{port}: "
        "start PostgreSQL, or fix the host and port"
    )


@needs_postgres
def test_an_unknown_role_is_one_line() -> None:
    line = _one_line({"DATABASE_URL": "postgresql+asyncpg://nobody:hunter2@127.0.0.1:5432/postgres"})
    assert line.startswith("cannot start: DATABASE_URL: PostgreSQL on 127.0.0.1:5432 refused the login (")
    assert "nobody" in line and "hunter2" not in line


@needs_postgres
def test_a_missing_database_is_one_line() -> None:
    line = _one_line({"DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:5432/no_such_database"})
    assert line == (
        "cannot start: DATABASE_URL: the database 'no_such_database' does not exist on 127.0.0.1:5432: "
        "create it (createdb), or fix the name"
    )


def test_a_production_start_without_a_secret_names_it() -> None:
    line = _one_line({"APP_ENV": "production"})
    assert line.startswith("configuration error: SECRET_KEY must be set")
