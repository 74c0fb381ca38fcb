"""Personal access tokens: created with the password, shown once, scoped, revoked at once everywhere."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.factories import PASSWORD, Account, logged_in_user
from tests.support.cluster import sync_client
from tests.support.live import LiveServer
from tests.support.processes import RedisServer
from tests.support.round_trips import counted_client

TOKENS = "/api/v1/auth/tokens"
ME = "/api/v1/users/me"
NOTES = "/api/v1/notes"


def create(client: httpx.Client, account: Account, **overrides: Any) -> httpx.Response:
    body = {"name": "ci", "scopes": ["profile:read"], "current_password": PASSWORD} | overrides
    return client.post(TOKENS, json=body, headers=account.auth)


def pat(client: httpx.Client, account: Account, scopes: list[str]) -> tuple[int, dict[str, str]]:
    response = create(client, account, scopes=scopes)
    assert response.status_code == 201, response.text
    return response.json()["id"], {"Authorization": f"Bearer {response.json()['token']}"}


def test_a_token_is_shown_once_with_its_metadata(client: httpx.Client) -> None:
    account = logged_in_user(client)
    response = create(client, account)
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {"id", "name", "scopes", "created_at", "expires_at", "last_used_at", "token"}
    assert body["token"].startswith("pat_") and len(body["token"]) == 4 + 43  # 256 bits, base64url
    listed = client.get(TOKENS, headers=account.auth).json()
    assert [t["id"] for t in listed] == [body["id"]]
    assert "token" not in listed[0]
    assert body["token"] not in client.get(TOKENS, headers=account.auth).text


def test_the_database_holds_only_a_hash(client: httpx.Client, server: LiveServer) -> None:
    account = logged_in_user(client)
    token = create(client, account).json()["token"]
    path = server.settings.database_url.split("///", 1)[-1]
    if not server.settings.is_sqlite:
        pytest.skip("reads the SQLite file")
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT * FROM personal_access_tokens").fetchall()
    flat = " ".join(str(value) for row in rows for value in row)
    assert token not in flat and token.removeprefix("pat_") not in flat
    assert hashlib.sha256(token.encode()).hexdigest() in flat


def test_a_token_has_its_scopes_and_no_more(client: httpx.Client) -> None:
    account = logged_in_user(client)
    _, profile = pat(client, account, ["profile:read"])
    assert client.get(ME, headers=profile).json()["id"] == account.id
    refused = client.get(NOTES, headers=profile)
    assert refused.status_code == 403 and "notes:read" in refused.json()["detail"]

    _, reader = pat(client, account, ["notes:read"])
    assert client.get(NOTES, headers=reader).status_code == 200
    assert client.post(NOTES, json={"title": "t", "body": "b"}, headers=reader).status_code == 403

    _, writer = pat(client, account, ["notes:read", "notes:write"])
    created = client.post(NOTES, json={"title": "t", "body": "b"}, headers=writer)
    assert created.status_code == 201
    assert client.delete(f"{NOTES}/{created.json()['id']}", headers=writer).status_code == 204


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/auth/sessions"),
        ("POST", "/api/v1/auth/logout"),
        ("POST", "/api/v1/auth/logout-all"),
        ("GET", TOKENS),
        ("POST", TOKENS),
        ("DELETE", f"{TOKENS}/1"),
        ("PUT", "/api/v1/users/me/password"),
    ],
)
def test_a_token_never_manages_credentials_or_the_account(
    client: httpx.Client, method: str, path: str
) -> None:
    account = logged_in_user(client)
    _, every = pat(client, account, ["profile:read", "notes:read", "notes:write"])
    body = {"name": "x", "scopes": ["notes:read"], "current_password": PASSWORD}
    response = client.request(method, path, headers=every, json=body if method in ("POST", "PUT") else None)
    assert response.status_code == 403, response.text
    assert client.get(ME, headers=account.auth).status_code == 200  # the session is untouched


def test_creating_needs_the_password(client: httpx.Client) -> None:
    account = logged_in_user(client)
    response = create(client, account, current_password="wrong password")
    assert response.status_code == 403
    assert client.get(TOKENS, headers=account.auth).json() == []


@pytest.mark.parametrize(
    "change",
    [
        {"scopes": []},
        {"scopes": ["admin"]},
        {"expires_in": 366 * 24 * 3600},
        {"expires_in": "90"},
        {"name": ""},
        {"current_password": None},
    ],
)
def test_bad_requests_are_422(client: httpx.Client, change: dict[str, Any]) -> None:
    account = logged_in_user(client)
    response = create(client, account, **change)
    assert response.status_code == 422
    assert response.headers["Content-Type"] == "application/problem+json"


def test_a_whole_float_is_an_integer_as_json_schema_says(client: httpx.Client) -> None:
    account = logged_in_user(client)
    assert create(client, account, expires_in=86400.0).status_code == 201
    assert create(client, account, expires_in=86400.5).status_code == 422


def test_expiry_defaults_to_90_days_and_may_be_a_year(client: httpx.Client) -> None:
    from datetime import datetime

    account = logged_in_user(client)
    for expires_in, days in ((None, 90), (365 * 24 * 3600, 365)):
        body = create(client, account, **({} if expires_in is None else {"expires_in": expires_in})).json()
        span = datetime.fromisoformat(body["expires_at"]) - datetime.fromisoformat(body["created_at"])
        assert span.days == days


@pytest.mark.parametrize(
    "token", ["pat_", "pat_short", "pat_" + "a" * 44, "pat_" + "!" * 43, "pat_" + "a" * 42 + "\u00e9"]
)
def test_a_token_of_the_wrong_shape_is_401(client: httpx.Client, token: str) -> None:
    response = client.get(ME, headers={"Authorization": f"Bearer {token}".encode()})  # type: ignore[dict-item]
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/problem+json"


def test_revocation_is_immediate_on_every_instance(
    make_server: Callable[..., LiveServer], databases: Any
) -> None:
    url = databases.new()
    one, two = make_server(url), make_server(url)
    with httpx.Client(base_url=one.url) as first, httpx.Client(base_url=two.url) as second:
        account = logged_in_user(first)
        token_id, headers = pat(first, account, ["profile:read"])
        assert second.get(ME, headers=headers).status_code == 200  # cached on the shared Redis
        assert first.delete(f"{TOKENS}/{token_id}", headers=account.auth).status_code == 204
        assert second.get(ME, headers=headers).status_code == 401
        assert first.get(ME, headers=headers).status_code == 401
        assert first.delete(f"{TOKENS}/{token_id}", headers=account.auth).status_code == 404
        assert first.get(TOKENS, headers=account.auth).json() == []


def test_revocation_stays_immediate_beside_instances_of_the_release_before(
    client: httpx.Client, server: LiveServer
) -> None:
    # A rolling deploy: instances of the release before read and tombstone a
    # verdict at auth:pat:<sha256 of the token>, the key this one uses.
    old = sync_client(server.settings.redis_url)
    try:
        account = logged_in_user(client)
        token_id, headers = pat(client, account, ["profile:read"])
        verdict_key = "auth:pat:" + hashlib.sha256(headers["Authorization"][7:].encode()).hexdigest()
        assert client.get(ME, headers=headers).status_code == 200
        assert old.get(verdict_key) is not None  # what an old instance would serve from
        assert client.delete(f"{TOKENS}/{token_id}", headers=account.auth).status_code == 204
        assert old.get(verdict_key) == b"revoked"  # so it refuses the token at once too

        _, other = pat(client, account, ["profile:read"])
        other_key = "auth:pat:" + hashlib.sha256(other["Authorization"][7:].encode()).hexdigest()
        assert client.get(ME, headers=other).status_code == 200
        old.set(other_key, "revoked", ex=3600)  # an old instance's revocation (after its database write)
        assert client.get(ME, headers=other).status_code == 401
    finally:
        old.close()


def test_another_users_token_cannot_be_revoked(client: httpx.Client) -> None:
    owner, other = logged_in_user(client), logged_in_user(client)
    token_id, headers = pat(client, owner, ["profile:read"])
    assert client.delete(f"{TOKENS}/{token_id}", headers=other.auth).status_code == 404
    assert client.get(ME, headers=headers).status_code == 200


def test_a_redis_flush_never_revives_a_revoked_token_and_keeps_live_ones(
    make_server: Callable[..., LiveServer], private_redis: RedisServer
) -> None:
    server = make_server(redis_url=private_redis.url)
    with httpx.Client(base_url=server.url) as client:
        account = logged_in_user(client)
        _, live = pat(client, account, ["profile:read"])
        dead_id, dead = pat(client, account, ["profile:read"])
        assert client.get(ME, headers=dead).status_code == 200
        assert client.delete(f"{TOKENS}/{dead_id}", headers=account.auth).status_code == 204
        private_redis.client().flushall()
        assert client.get(ME, headers=dead).status_code == 401
        assert client.get(ME, headers=live).status_code == 200  # the database is the durable record


def test_last_used_is_recorded_at_most_once_a_minute(client: httpx.Client) -> None:
    account = logged_in_user(client)
    _, headers = pat(client, account, ["profile:read"])
    assert client.get(TOKENS, headers=account.auth).json()[0]["last_used_at"] is None
    client.get(ME, headers=headers)
    first = client.get(TOKENS, headers=account.auth).json()[0]["last_used_at"]
    assert first is not None
    client.get(ME, headers=headers)
    assert client.get(TOKENS, headers=account.auth).json()[0]["last_used_at"] == first


def test_redis_down_is_503_never_a_pass(
    make_server: Callable[..., LiveServer], private_redis: RedisServer
) -> None:
    server = make_server(redis_url=private_redis.url)
    with httpx.Client(base_url=server.url) as client:
        account = logged_in_user(client)
        _, headers = pat(client, account, ["profile:read"])
        private_redis.stop()
        response = client.get(ME, headers=headers)
        assert response.status_code == 503
        assert response.headers["Content-Type"] == "application/problem+json"


def test_wrong_passwords_when_creating_a_token_count_toward_the_login_limits(
    make_server: Callable[..., LiveServer], private_redis: RedisServer
) -> None:
    server = make_server(redis_url=private_redis.url, login_max_per_account=3)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        account = logged_in_user(client)
        # A stolen access token must not become an unlimited password oracle.
        statuses = [create(client, account, current_password="not it at all").status_code for _ in range(4)]
        assert statuses == [403, 403, 403, 429]


@pytest.mark.parametrize("name", ["nul\x00byte", ""])
def test_a_name_that_cannot_be_stored_is_422(client: httpx.Client, name: str) -> None:
    account = logged_in_user(client)
    assert create(client, account, name=name).status_code == 422


def test_an_unknown_scope_is_422_naming_the_scopes(client: httpx.Client) -> None:
    response = create(client, logged_in_user(client), scopes=["admin"])
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["field"] == "scopes.0" and error["message"].startswith("must be one of 'profile:read'")


@pytest.mark.parametrize("token_id", [2**31, 2**63 - 1])
def test_any_id_a_path_can_carry_is_a_plain_404(client: httpx.Client, token_id: int) -> None:
    account = logged_in_user(client)
    assert client.delete(f"{TOKENS}/{token_id}", headers=account.auth).status_code == 404


def test_a_request_with_a_token_costs_one_redis_round_trip(
    make_server: Callable[..., LiveServer], single_node_redis_url: str
) -> None:
    with counted_client(make_server, single_node_redis_url) as (client, counter):
        account = logged_in_user(client)
        _, headers = pat(client, account, ["profile:read", "notes:read", "notes:write"])
        assert client.get(ME, headers=headers).status_code == 200  # fills the cached verdict
        for method, path in (("GET", ME), ("GET", NOTES), ("GET", ME)):
            before = counter.count
            assert client.request(method, path, headers=headers).status_code == 200
            assert counter.count - before == 1
