"""The email flows with Redis cut or the database locked: 503, never a 5xx of another kind, then healed."""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Iterator
from email import message_from_string, policy
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy.engine import make_url

from tests.conftest import base_settings
from tests.factories import PASSWORD, assert_problem, random_username
from tests.support.faults import FaultProxy
from tests.support.live import LiveServer
from tests.support.processes import migrate

TIMEOUTS = {"redis_socket_timeout": 0.5, "redis_pool_timeout": 1.0, "db_connect_timeout": 0.5}
BOUND = httpx.Timeout(15.0)
TOKEN = "A" * 43


@pytest.fixture
def redis_proxy(redis_url: str) -> Iterator[FaultProxy]:
    proxy = FaultProxy.for_url(redis_url)
    yield proxy
    proxy.close()


@pytest.fixture
def live(tmp_path: Path, redis_url: str, redis_proxy: FaultProxy) -> Iterator[LiveServer]:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'service.db'}"
    migrate(database_url)
    queue = {"mail_queue": f"mail-{secrets.token_hex(4)}"}  # this test's own, on the shared Redis
    server = LiveServer(base_settings(database_url, redis_proxy.url_through(redis_url), **TIMEOUTS, **queue))
    yield server
    server.stop()


def _account(client: httpx.Client, email: str) -> dict[str, str]:
    name = random_username()
    body = {"username": name, "password": PASSWORD, "email": email}
    assert client.post("/api/v1/auth/register", json=body).status_code == 201
    login = client.post("/api/v1/auth/login", json={"username": name, "password": PASSWORD})
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def test_redis_down_gives_503_on_every_email_flow(live: LiveServer, redis_proxy: FaultProxy) -> None:
    with httpx.Client(base_url=live.url, timeout=BOUND) as client:
        auth = _account(client, "erin@example.com")
        with redis_proxy.fault("refuse"):
            calls = [
                ("POST", "/api/v1/auth/password/forgot", {"email": "erin@example.com"}, {}),
                ("POST", "/api/v1/auth/password/forgot", {"email": "nobody@example.com"}, {}),
                ("POST", "/api/v1/auth/email/verify", {"token": TOKEN}, {}),
                ("POST", "/api/v1/auth/password/reset", {"token": TOKEN, "new_password": "new password"}, {}),
                ("POST", "/api/v1/auth/email/verification", None, auth),
                (
                    "PUT",
                    "/api/v1/users/me/email",
                    {"email": "e2@example.com", "current_password": PASSWORD},
                    auth,
                ),
            ]
            for method, path, body, headers in calls:
                assert_problem(client.request(method, path, json=body, headers=headers), 503)
            # The account is stored: 201 (a 503 would make the retry a 409); the mail is asked for later.
            registered = {"username": random_username(), "password": PASSWORD, "email": "f@example.com"}
            created = client.post("/api/v1/auth/register", json=registered)
            assert created.status_code == 201 and created.json()["email_verified"] is False
        # Healed: the same requests are served again.
        assert client.post("/api/v1/auth/password/forgot", json={"email": "x@example.com"}).status_code == 202
        assert client.post("/api/v1/auth/email/verification", headers=auth).status_code == 202


def test_a_locked_database_gives_503_and_the_verification_link_keeps_working(
    live: LiveServer, redis_url: str
) -> None:
    path = make_url(live.settings.database_url).database
    assert path is not None
    with httpx.Client(base_url=live.url, timeout=BOUND) as client:
        auth = _account(client, "gus@example.com")
        # Read the token the way the worker would get it: from the queued mail itself.
        queued = redis.Redis.from_url(redis_url).xrange(f"{live.settings.mail_queue}:stream")
        assert queued, "the verification mail was queued"
        task = json.loads(queued[-1][1][b"data"])
        mail = message_from_string(task["args"][0], policy=policy.default)
        text = mail.get_body(("plain",)).get_content()  # type: ignore[attr-defined]
        token = text.split("verify-email?token=")[1][:43]
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            assert_problem(client.post("/api/v1/auth/email/verify", json={"token": token}), 503)
            change = {"email": "gus2@example.com", "current_password": PASSWORD}
            assert_problem(client.put("/api/v1/users/me/email", json=change, headers=auth), 503)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert client.post("/api/v1/auth/email/verify", json={"token": token}).status_code == 204
        assert client.get("/api/v1/users/me", headers=auth).json()["email_verified"] is True
