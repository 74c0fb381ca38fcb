"""Stateless instances: two hypercorn processes (one with two workers) on one Redis and one database.

Every piece of state (accounts, token sessions, cookie sessions, login
attempt counts) lives in Redis or the database, so any instance serves any
request. On ``make test-postgres`` the shared database is PostgreSQL.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import httpx
import pytest

from tests.factories import PASSWORD, Account, log_in, register
from tests.support.databases import Databases
from tests.support.instances import ServiceProcess, instance_environ
from tests.support.processes import RedisServer

ME = "/api/v1/users/me"
LOGIN = "/api/v1/auth/login"
LOGOUT = "/api/v1/auth/logout"
SESSION = "/api/v1/session"
MAX_PER_ACCOUNT = 3


@pytest.fixture(scope="module")
def pair(
    databases: Databases, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """Instance A (1 worker) and B (2 workers), started once for this module's tests.

    Their own Redis, so that login attempts made elsewhere in the run cannot
    count against these tests' limits.
    """
    directory = tmp_path_factory.mktemp("instances")
    store = RedisServer(directory)
    database_url = databases.new()
    environ = instance_environ(
        secrets.token_urlsafe(48),
        database_url,
        store.url,
        login_max_per_account=MAX_PER_ACCOUNT,
        login_max_per_ip=1000,
    )
    a = ServiceProcess(environ, directory / "a.log", workers=1)
    b = ServiceProcess(environ, directory / "b.log", workers=2)
    try:
        with (
            httpx.Client(base_url=a.url, timeout=30) as on_a,
            httpx.Client(base_url=b.url, timeout=30) as on_b,
        ):
            yield on_a, on_b
    finally:
        a.stop()
        b.stop()
        store.stop()
        databases.release(database_url)


def _every_worker(url: str) -> Iterator[httpx.Client]:
    # A new connection may land on either worker of an instance; several fresh
    # connections make it all but certain that both are asked.
    for _ in range(8):
        with httpx.Client(base_url=url, timeout=30) as fresh:
            yield fresh


def test_registered_on_one_instance_logs_in_on_the_other(pair: tuple[httpx.Client, httpx.Client]) -> None:
    a, b = pair
    account = register(a)
    log_in(b, account)
    me = a.get(ME, headers=account.auth)
    assert me.status_code == 200
    assert me.json()["id"] == account.id


def test_logout_on_one_instance_is_refused_at_once_on_every_worker_of_the_other(
    pair: tuple[httpx.Client, httpx.Client],
) -> None:
    a, b = pair
    account = log_in(b, register(a))
    for client in _every_worker(str(b.base_url)):
        assert client.get(ME, headers=account.auth).status_code == 200
    assert a.post(LOGOUT, headers=account.auth).status_code == 204
    for client in _every_worker(str(b.base_url)):
        assert client.get(ME, headers=account.auth).status_code == 401
    assert a.get(ME, headers=account.auth).status_code == 401


def _cookie_header(response: httpx.Response) -> dict[str, str]:
    # The cookie is Secure in production; these servers speak plain HTTP, so
    # send it by hand as a browser behind TLS termination would.
    jar = "; ".join(f"{name}={value}" for name, value in response.cookies.items())
    return {"Cookie": jar}


def test_a_cookie_session_made_on_one_instance_works_on_the_other(
    pair: tuple[httpx.Client, httpx.Client],
) -> None:
    a, b = pair
    account = register(a)
    made = a.post(SESSION, json={"username": account.username, "password": PASSWORD})
    assert made.status_code == 200, made.text
    cookie = _cookie_header(made)
    csrf = {"X-CSRF-Token": made.json()["csrf_token"]}
    for client in _every_worker(str(b.base_url)):
        assert client.get(ME, headers=cookie).json()["id"] == account.id
    assert b.request("DELETE", SESSION, headers=cookie | csrf).status_code == 204
    assert a.get(ME, headers=cookie).status_code == 401


def _fail_login(client: httpx.Client, account: Account) -> int:
    response = client.post(LOGIN, json={"username": account.username, "password": "wrong password!"})
    assert response.status_code in (401, 429), response.text
    return response.status_code


def test_the_login_limit_counts_attempts_on_both_instances_together(
    pair: tuple[httpx.Client, httpx.Client],
) -> None:
    a, b = pair
    account = register(a)
    # Spend the whole allowance on A: B refuses the next attempt, which it
    # would allow if it kept its own count.
    for _ in range(MAX_PER_ACCOUNT):
        assert _fail_login(a, account) == 401
    assert _fail_login(b, account) == 429
    # And the reverse direction, for another account.
    other = register(b)
    for client in (b, a, b):
        assert _fail_login(client, other) == 401
    assert _fail_login(a, other) == 429
