"""Deleting one's account: with the password; everything goes, every token stops, the name is free again."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import httpx

from tests.factories import PASSWORD, Account, assert_problem, log_in, logged_in_user, register
from tests.support.live import LiveServer

ME = "/api/v1/users/me"
SESSION = "/api/v1/session"
NOTES = "/api/v1/notes"


def delete_me(client: httpx.Client, account: Account, password: str = PASSWORD) -> httpx.Response:
    return client.request("DELETE", ME, json={"current_password": password}, headers=account.auth)


def cookie_login(client: httpx.Client, account: Account) -> tuple[str, str]:
    response = client.post(SESSION, json={"username": account.username, "password": account.password})
    assert response.status_code == 200, response.text
    client.cookies.clear()  # sent explicitly: it is Secure and the server is plain http
    return response.cookies["session"], response.json()["csrf_token"]


def test_a_wrong_password_is_403_and_the_account_stays(client: httpx.Client) -> None:
    account = logged_in_user(client)
    assert_problem(delete_me(client, account, "not the password"), 403)
    assert client.get(ME, headers=account.auth).status_code == 200


def test_deletion_ends_every_token_and_cookie_and_frees_the_name(
    make_server: Callable[..., LiveServer], sqlite_url: str
) -> None:
    # SQLite without AUTOINCREMENT on users hands the deleted account's id to the
    # next registration: the new account gets the same id, never the old data.
    server = make_server(database_url=sqlite_url)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        old = logged_in_user(client)
        assert (
            client.post(NOTES, json={"title": "secret", "body": "old"}, headers=old.auth).status_code == 201
        )
        cookie, csrf = cookie_login(client, old)
        old_cookie = {"Cookie": f"session={cookie}"}
        assert client.get(ME, headers=old_cookie).status_code == 200

        assert delete_me(client, old).status_code == 204

        assert_problem(client.get(ME, headers=old.auth), 401)
        assert_problem(client.get(ME, headers=old_cookie), 401)
        assert_problem(client.post("/api/v1/auth/refresh", json={"refresh_token": old.refresh_token}), 401)
        login = {"username": old.username, "password": PASSWORD}
        assert_problem(client.post("/api/v1/auth/login", json=login), 401)

        new = log_in(client, register(client, old.username, "another password"))
        assert new.id == old.id  # the same id, a different account
        assert client.get(ME, headers=new.auth).json()["username"] == old.username
        # The old account's token and cookie reach nothing of the new one.
        for headers in (old.auth, old_cookie):
            assert_problem(client.get(ME, headers=headers), 401)
            assert_problem(client.get(NOTES, headers=headers), 401)
            assert_problem(client.get("/api/v1/auth/events", headers=headers), 401)
        assert_problem(client.post("/api/v1/auth/refresh", json={"refresh_token": old.refresh_token}), 401)
        assert client.get(NOTES, headers=new.auth).json()["items"] == []
        events = client.get("/api/v1/auth/events", headers=new.auth).json()["items"]
        assert [event["type"] for event in events] == ["login"]
        sessions = client.get("/api/v1/auth/sessions", headers=new.auth).json()
        assert len(sessions) == 1
        export = client.get(f"{ME}/export", headers=new.auth).json()
        assert export["notes"] == [] and len(export["events"]) == 1
        # The old cookie cannot log out (or touch) the new account's sessions either.
        gone = client.delete(SESSION, headers=old_cookie | {"X-CSRF-Token": csrf})
        assert_problem(gone, 401)
        assert client.get(ME, headers=new.auth).status_code == 200


def test_tokens_stop_at_once_on_every_instance(
    make_server: Callable[..., LiveServer], sqlite_url: str
) -> None:
    shared = {
        "database_url": sqlite_url,
        "secret_key": secrets.token_urlsafe(48),
    }  # two instances of one deployment
    first, second = make_server(**shared), make_server(**shared)
    with httpx.Client(base_url=first.url, timeout=30) as one, httpx.Client(base_url=second.url) as two:
        account = logged_in_user(one)
        other_login = log_in(two, Account(account.username, PASSWORD, account.id))
        assert two.get(ME, headers=account.auth).status_code == 200
        assert delete_me(one, account).status_code == 204
        assert_problem(two.get(ME, headers=account.auth), 401)
        assert_problem(two.get("/api/v1/auth/sessions", headers=other_login.auth), 401)


def test_bad_bodies_are_422_and_no_credentials_401(client: httpx.Client) -> None:
    account = logged_in_user(client)
    for body in ({}, {"current_password": 1}, {"current_password": PASSWORD, "extra": 1}, []):
        assert_problem(client.request("DELETE", ME, json=body, headers=account.auth), 422)
    assert_problem(client.request("DELETE", ME, json={"current_password": PASSWORD}), 401)
    assert client.get(ME, headers=account.auth).status_code == 200
