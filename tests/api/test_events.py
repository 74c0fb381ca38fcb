"""Security events: what happened to an account, listed to its owner newest first with a cursor."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime

import httpx
import pytest

from service.logs import JsonFormatter
from tests.factories import PASSWORD, Account, assert_problem, log_in, logged_in_user, register
from tests.support.live import LiveServer
from tests.support.processes import RedisServer

EVENTS = "/api/v1/auth/events"
LOGIN = "/api/v1/auth/login"
SESSION = "/api/v1/session"
FIELDS = {"id", "type", "created_at", "ip", "user_agent", "session_id"}


def events_of(client: httpx.Client, account: Account, **params: object) -> list[dict]:
    response = client.get(EVENTS, headers=account.auth, params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def types_of(client: httpx.Client, account: Account) -> list[str]:
    return [event["type"] for event in events_of(client, account, limit=100)]


def session_id_of(client: httpx.Client, account: Account) -> str:
    sessions = client.get("/api/v1/auth/sessions", headers=account.auth).json()
    return next(s["id"] for s in sessions if s["current"])


def test_a_login_is_listed_with_its_client_and_session(client: httpx.Client) -> None:
    account = register(client)
    response = client.post(
        LOGIN, json={"username": account.username, "password": PASSWORD}, headers={"User-Agent": "phone/1.0"}
    )
    account.access_token = response.json()["access_token"]
    (event,) = events_of(client, account)
    assert set(event) == FIELDS
    assert event["type"] == "login"
    assert event["ip"] == "127.0.0.1"
    assert event["user_agent"] == "phone/1.0"
    assert event["session_id"] == session_id_of(client, account)
    assert datetime.fromisoformat(event["created_at"]).tzinfo is not None


def test_each_kind_of_change_is_recorded_newest_first(client: httpx.Client) -> None:
    account = logged_in_user(client)
    wrong = client.post(LOGIN, json={"username": account.username, "password": "not the password"})
    assert wrong.status_code == 401
    second = log_in(client, Account(account.username, PASSWORD, account.id))
    second_session = session_id_of(client, second)
    assert client.delete(f"/api/v1/auth/sessions/{second_session}", headers=account.auth).status_code == 204
    change = {"current_password": PASSWORD, "new_password": "battery staple horse"}
    assert client.put("/api/v1/users/me/password", json=change, headers=account.auth).status_code == 204
    assert types_of(client, account) == [
        "password_changed",
        "session_revoked",
        "login",
        "login_failed",
        "login",
    ]
    revoked = events_of(client, account, limit=2)[1]
    assert revoked["session_id"] == second_session
    assert client.post("/api/v1/auth/logout", headers=account.auth).status_code == 204
    again = log_in(client, Account(account.username, "battery staple horse", account.id))
    assert types_of(client, again)[:3] == ["login", "logout", "password_changed"]
    assert client.post("/api/v1/auth/logout-all", headers=again.auth).status_code == 204
    last = log_in(client, again)
    assert types_of(client, last)[:2] == ["login", "logout_all"]


def test_a_reused_refresh_token_is_recorded(client: httpx.Client) -> None:
    account = logged_in_user(client)
    spent = account.refresh_token
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": spent}).status_code == 200
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": spent}).status_code == 401
    log_in(client, account)
    assert types_of(client, account)[:2] == ["login", "refresh_reuse"]


def test_cookie_logins_and_logouts_are_recorded(client: httpx.Client) -> None:
    account = logged_in_user(client)
    response = client.post(SESSION, json={"username": account.username, "password": PASSWORD})
    assert response.status_code == 200
    csrf = response.json()["csrf_token"]
    cookie = response.cookies["session"]
    client.cookies.clear()  # sent explicitly: it is Secure and the server is plain http
    out = client.delete(SESSION, headers={"Cookie": f"session={cookie}", "X-CSRF-Token": csrf})
    assert out.status_code == 204
    assert types_of(client, account)[:3] == ["logout", "login", "login"]


def test_a_limited_login_is_recorded_once_per_window(
    make_server: Callable[..., LiveServer], private_redis: RedisServer
) -> None:
    server = make_server(redis_url=private_redis.url, login_max_per_account=2, login_window=600)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        account = register(client)
        for _ in range(2):
            wrong = client.post(LOGIN, json={"username": account.username, "password": "wrong password"})
            assert wrong.status_code == 401
        for _ in range(3):
            limited = client.post(LOGIN, json={"username": account.username, "password": PASSWORD})
            assert limited.status_code == 429
        private_redis.client().flushall()  # lift the limit, to log in and look
        log_in(client, account)
        assert types_of(client, account) == ["login", "login_limited", "login_failed", "login_failed"]


def test_pages_follow_the_cursor_without_gaps_or_repeats(client: httpx.Client) -> None:
    account = register(client)
    for _ in range(5):
        log_in(client, account)
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get(EVENTS, headers=account.auth, params=params).json()
        seen += [event["id"] for event in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 5
    assert seen == sorted(seen, reverse=True)


def test_another_accounts_events_are_never_listed(client: httpx.Client) -> None:
    alice, bob = logged_in_user(client), logged_in_user(client)
    assert all(e["session_id"] != session_id_of(client, bob) for e in events_of(client, alice, limit=100))
    assert len(events_of(client, bob)) == 1


def test_bad_queries_are_422_and_no_credentials_401(client: httpx.Client) -> None:
    account = logged_in_user(client)
    for params in ({"limit": "0"}, {"limit": "101"}, {"limit": "x"}, {"cursor": "not-a-cursor"}):
        assert_problem(client.get(EVENTS, headers=account.auth, params=params), 422)
    assert_problem(client.get(EVENTS), 401)


def test_events_go_to_the_json_log_without_secrets(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="service.events")
    account = register(client)
    log_in(client, account)
    change = {"current_password": PASSWORD, "new_password": "another password"}
    assert client.put("/api/v1/users/me/password", json=change, headers=account.auth).status_code == 204
    lines = [
        json.loads(JsonFormatter().format(record))
        for record in caplog.records
        if record.name == "service.events" and getattr(record, "fields", {}).get("user_id") == account.id
    ]
    assert [line["event"] for line in lines] == ["login", "password_changed"]
    assert all(line["ip"] == "127.0.0.1" and line["session_id"] for line in lines)
    text = json.dumps(lines)
    for secret in (account.access_token, account.refresh_token, PASSWORD, "another password"):
        assert secret not in text
