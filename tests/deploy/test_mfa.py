"""The second factor deployed: one TOTP code on two instances is accepted once; no key, no start."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator

import httpx
import pytest

from tests.factories import logged_in_user
from tests.support.databases import Databases
from tests.support.instances import ServiceProcess, instance_environ
from tests.support.processes import RedisServer, free_port
from tests.support.served import run_serve
from tests.support.signing import default_key_path
from tests.support.totp import LOGIN_MFA, first_step, turn_on


@pytest.fixture(scope="module")
def pair(
    databases: Databases, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """Instances A and B (two workers each), sharing one Redis, one database and one MFA key."""
    directory = tmp_path_factory.mktemp("mfa-instances")
    store = RedisServer(directory)
    database_url = databases.new()
    environ = instance_environ(secrets.token_urlsafe(48), database_url, store.url, login_max_per_ip=1000)
    a = ServiceProcess(environ, directory / "a.log", workers=2)
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


def test_one_code_sent_to_both_instances_in_parallel_logs_in_once(
    pair: tuple[httpx.Client, httpx.Client],
) -> None:
    a, b = pair
    account = logged_in_user(a)
    app = turn_on(a, account)  # the current step is spent
    code = app.code(1)
    tokens = [first_step(client, account) for client in (a, b) * 4]
    urls = [str(client.base_url) for client in (a, b) * 4]
    statuses: list[int] = []
    start = threading.Barrier(len(tokens))

    def redeem(url: str, token: str) -> None:
        with httpx.Client(base_url=url, timeout=30) as own:
            start.wait()
            statuses.append(own.post(LOGIN_MFA, json={"mfa_token": token, "code": code}).status_code)

    threads = [threading.Thread(target=redeem, args=job) for job in zip(urls, tokens, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] + [401] * (len(tokens) - 1)


def test_a_code_taken_on_one_instance_is_refused_on_the_other(
    pair: tuple[httpx.Client, httpx.Client],
) -> None:
    a, b = pair
    account = logged_in_user(b)
    app = turn_on(b, account)
    assert (
        a.post(LOGIN_MFA, json={"mfa_token": first_step(a, account), "code": app.code()}).status_code == 401
    )
    token = first_step(a, account)
    assert a.post(LOGIN_MFA, json={"mfa_token": token, "code": app.code(1)}).status_code == 200
    token = first_step(b, account)
    assert b.post(LOGIN_MFA, json={"mfa_token": token, "code": app.code(1)}).status_code == 401


def test_a_production_start_without_the_key_is_one_line() -> None:
    result = run_serve(
        {
            "PORT": str(free_port()),
            "APP_ENV": "production",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "SIGNING_KEYS": default_key_path(),
            "SMTP_URL": "smtp://127.0.0.1:9",  # required in production; nothing here sends mail
        }
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "MFA_ENCRYPTION_KEYS must be set when APP_ENV=production" in lines[0]
