"""Refresh rotation: a refresh token is spent once; presenting it again from elsewhere revokes the session.

The same client presenting it again within REFRESH_REUSE_GRACE gets the
same pair: tests/api/test_concurrent_refresh.py.
"""

from __future__ import annotations

import httpx
import pytest

from tests.factories import Account, log_in, logged_in_user
from tests.support.live import LiveServer

REFRESH = "/api/v1/auth/refresh"
ME = "/api/v1/users/me"


THIEF = {"User-Agent": "thief/1.0"}


def refresh(client: httpx.Client, token: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return client.post(REFRESH, json={"refresh_token": token}, headers=headers)


def test_refresh_returns_a_new_pair_that_works(client: httpx.Client, server: LiveServer) -> None:
    account = logged_in_user(client)
    response = refresh(client, account.refresh_token)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == server.settings.access_token_ttl
    assert body["refresh_token"] != account.refresh_token
    assert client.get(ME, headers={"Authorization": f"Bearer {body['access_token']}"}).status_code == 200
    assert refresh(client, body["refresh_token"]).status_code == 200  # the new one is live


def test_refresh_keeps_the_same_session(client: httpx.Client) -> None:
    account = logged_in_user(client)
    before = client.get("/api/v1/auth/sessions", headers=account.auth).json()
    new_access = refresh(client, account.refresh_token).json()["access_token"]
    after = client.get("/api/v1/auth/sessions", headers={"Authorization": f"Bearer {new_access}"}).json()
    assert [s["id"] for s in after] == [s["id"] for s in before]


def test_a_spent_refresh_token_revokes_the_whole_session(client: httpx.Client) -> None:
    account = logged_in_user(client)
    newest = refresh(client, account.refresh_token).json()
    newest_auth = {"Authorization": f"Bearer {newest['access_token']}"}
    assert client.get(ME, headers=newest_auth).status_code == 200

    replay = refresh(client, account.refresh_token, THIEF)  # another client: no grace

    assert replay.status_code == 401
    assert replay.headers["Content-Type"] == "application/problem+json"
    assert replay.headers["WWW-Authenticate"] == "Bearer"
    # The thief or the owner: either way, every token of the session is dead.
    assert client.get(ME, headers=newest_auth).status_code == 401
    assert client.get(ME, headers=account.auth).status_code == 401
    assert refresh(client, newest["refresh_token"]).status_code == 401


def test_reuse_revokes_only_that_session(client: httpx.Client) -> None:
    account = logged_in_user(client)
    other = logged_in_user(client)
    second_device = Account(account.username, account.password, account.id)

    log_in(client, second_device)
    refresh(client, account.refresh_token)
    assert refresh(client, account.refresh_token, THIEF).status_code == 401
    assert client.get(ME, headers=second_device.auth).status_code == 200
    assert client.get(ME, headers=other.auth).status_code == 200


def test_an_access_token_cannot_refresh(client: httpx.Client) -> None:
    account = logged_in_user(client)
    assert refresh(client, account.access_token).status_code == 401
    assert client.get(ME, headers=account.auth).status_code == 200  # no harm done to the session


def test_a_refresh_token_cannot_authorize_a_request(client: httpx.Client) -> None:
    account = logged_in_user(client)
    response = client.get(ME, headers={"Authorization": f"Bearer {account.refresh_token}"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_refresh_after_logout_is_refused(client: httpx.Client) -> None:
    account = logged_in_user(client)
    assert client.post("/api/v1/auth/logout", headers=account.auth).status_code == 204
    assert refresh(client, account.refresh_token).status_code == 401


@pytest.mark.parametrize(
    "body",
    [{}, {"refresh_token": 5}, {"refresh_token": ""}, {"refresh_token": "not.a.jwt"}, {"token": "x"}],
)
def test_bad_refresh_bodies_are_4xx_problems(client: httpx.Client, body: dict) -> None:
    response = client.post(REFRESH, json=body)
    assert response.status_code in (401, 422)
    assert response.headers["Content-Type"] == "application/problem+json"
