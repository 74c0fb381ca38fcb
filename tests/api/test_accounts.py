"""Registration, login, logout and /users/me, as the contract describes them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import httpx
import pytest

from tests.factories import PASSWORD, Account, log_in, logged_in_user, random_username, register
from tests.support.cluster import sync_client
from tests.support.live import LiveServer

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/users/me"


def test_register_returns_the_public_user(client: httpx.Client) -> None:
    name = random_username()
    response = client.post(REGISTER, json={"username": name, "password": PASSWORD})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "username", "created_at", "email", "email_verified"}
    assert (body["email"], body["email_verified"]) == (None, False)  # no address given
    assert body["username"] == name
    assert datetime.fromisoformat(body["created_at"]).tzinfo is not None
    assert "$2b$" not in response.text


def test_username_is_unique_without_regard_to_case(client: httpx.Client) -> None:
    name = random_username("Mixed")
    register(client, name)
    response = client.post(REGISTER, json={"username": name.upper(), "password": PASSWORD})
    assert response.status_code == 409
    assert response.headers["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"username": "ab", "password": PASSWORD}, "username", "must be at least 3 characters"),
        ({"username": "a" * 33, "password": PASSWORD}, "username", "must be at most 32 characters"),
        ({"username": "bad name!", "password": PASSWORD}, "username", "has characters that are not allowed"),
        ({"username": "valid_name", "password": "short"}, "password", "must be at least 8 characters"),
        # 25 three-byte characters: 25 characters but 75 bytes, over bcrypt's 72
        ({"username": "valid_name", "password": "€" * 25}, "password", "must be at most 72 bytes in UTF-8"),
        ({"username": "Valid_Name", "password": "valid_name"}, "password", "must not be the username"),
        ({"username": "valid_name"}, "password", "is required"),
        ({"username": 12345, "password": PASSWORD}, "username", "must be a string"),
        ({"username": "valid_name", "password": ["x"] * 9}, "password", "must be a string"),
    ],
)
def test_invalid_registration_names_the_field(
    client: httpx.Client, body: dict, field: str, message: str
) -> None:
    response = client.post(REGISTER, json=body)
    assert response.status_code == 422
    problem = response.json()
    assert {"field": field, "message": message} in problem["errors"]
    assert f"{field}: {message}" in problem["detail"]


def test_a_password_of_exactly_72_bytes_is_accepted_and_not_truncated(client: httpx.Client) -> None:
    password = "€" * 24  # 72 bytes
    account = register(client, password=password)
    log_in(client, account)
    wrong_last_char = client.post(LOGIN, json={"username": account.username, "password": "€" * 23 + "x"})
    assert wrong_last_char.status_code == 401


def test_login_returns_a_token_pair(client: httpx.Client, server: LiveServer) -> None:
    account = register(client)
    response = client.post(LOGIN, json={"username": account.username.upper(), "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == server.settings.access_token_ttl
    assert body["access_token"] != body["refresh_token"]
    assert response.headers["Cache-Control"] == "no-store"


def test_unknown_user_and_wrong_password_look_the_same(client: httpx.Client) -> None:
    account = register(client)
    wrong = client.post(LOGIN, json={"username": account.username, "password": "not the password"})
    unknown = client.post(LOGIN, json={"username": random_username(), "password": "not the password"})
    assert wrong.status_code == unknown.status_code == 401
    strip = lambda r: {k: v for k, v in r.json().items() if k != "request_id"}  # noqa: E731
    assert strip(wrong) == strip(unknown)


def test_an_overlong_password_at_login_is_a_plain_401(client: httpx.Client) -> None:
    account = register(client)
    response = client.post(LOGIN, json={"username": account.username, "password": "x" * 500})
    assert response.status_code == 401


def test_me_returns_the_caller(client: httpx.Client) -> None:
    account = logged_in_user(client)
    response = client.get(ME, headers=account.auth)
    assert response.status_code == 200
    assert response.json()["username"] == account.username
    assert response.json()["id"] == account.id


def test_logout_revokes_the_session_at_once(client: httpx.Client) -> None:
    account = logged_in_user(client)
    assert client.post(LOGOUT, headers=account.auth).status_code == 204
    response = client.get(ME, headers=account.auth)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert client.post(LOGOUT, headers=account.auth).status_code == 401


def test_logout_ends_only_that_session(client: httpx.Client) -> None:
    first = logged_in_user(client)
    second = log_in(client, Account(first.username, first.password, first.id))
    assert client.post(LOGOUT, headers=first.auth).status_code == 204
    assert client.get(ME, headers=second.auth).status_code == 200


def test_logout_on_one_instance_is_refused_on_another(
    make_server: Callable[..., LiveServer], database_url: str
) -> None:
    one = make_server(database_url)
    # Both instances share one secret and one database, as a deployment's do.
    two = make_server(database_url, secret_key=one.settings.secret_key)
    with httpx.Client(base_url=one.url) as a, httpx.Client(base_url=two.url) as b:
        account = logged_in_user(a)
        assert b.get(ME, headers=account.auth).status_code == 200
        assert a.post(LOGOUT, headers=account.auth).status_code == 204
        assert b.get(ME, headers=account.auth).status_code == 401


def test_session_record_expires_with_the_refresh_token(
    client: httpx.Client, server: LiveServer, redis_url: str
) -> None:
    logged_in_user(client)
    store = sync_client(redis_url)
    keys = list(store.scan_iter("auth:s:*"))
    assert keys
    ttls = [store.ttl(key) for key in keys]
    assert all(0 < ttl <= server.settings.refresh_token_ttl for ttl in ttls)
