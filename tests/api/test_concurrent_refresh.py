"""Concurrent refresh: within REFRESH_REUSE_GRACE the same client gets the same pair; nobody else does."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import jwt

from tests.factories import logged_in_user
from tests.support.live import LiveServer

REFRESH = "/api/v1/auth/refresh"
ME = "/api/v1/users/me"
SESSIONS = "/api/v1/auth/sessions"
THIEF = {"User-Agent": "thief/1.0"}


def refresh(client: httpx.Client, token: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return client.post(REFRESH, json={"refresh_token": token}, headers=headers)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _refresh_together(url: str, token: str, count: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:
        # Open every connection first so the refreshes leave at the same moment.
        await asyncio.gather(*(http.get("/healthz") for _ in range(count)))
        return await asyncio.gather(
            *(http.post(REFRESH, json={"refresh_token": token}) for _ in range(count))
        )


def test_fifty_parallel_refreshes_from_one_client_all_get_the_same_pair(
    make_server: Callable[..., LiveServer],
) -> None:
    server = make_server()
    with httpx.Client(base_url=server.url) as client:
        account = logged_in_user(client)
        responses = asyncio.run(_refresh_together(server.url, account.refresh_token, 50))
        assert [r.status_code for r in responses] == [200] * 50
        pairs = {(r.json()["access_token"], r.json()["refresh_token"]) for r in responses}
        assert len(pairs) == 1  # the family never forks
        ((access, new_refresh),) = pairs
        assert client.get(ME, headers=bearer(access)).status_code == 200
        assert len(client.get(SESSIONS, headers=bearer(access)).json()) == 1
        # One live refresh token: the successor works, once; its parent only within the grace.
        onward = refresh(client, new_refresh)
        assert onward.status_code == 200
        assert client.get(ME, headers=bearer(onward.json()["access_token"])).status_code == 200


def test_a_retry_after_a_dropped_response_gets_the_pair_it_lost(client: httpx.Client) -> None:
    account = logged_in_user(client)
    lost = refresh(client, account.refresh_token).json()  # the client never saw this answer
    time.sleep(1.1)  # a retry a moment later: the pair is re-issued as it was, not re-dated
    retry = refresh(client, account.refresh_token)
    assert retry.status_code == 200
    assert retry.json() == lost
    assert client.get(ME, headers=bearer(retry.json()["access_token"])).status_code == 200
    assert refresh(client, retry.json()["refresh_token"]).status_code == 200


def test_a_thiefs_replay_from_another_client_inside_the_window_revokes_the_session(
    client: httpx.Client,
) -> None:
    account = logged_in_user(client)
    pair = refresh(client, account.refresh_token).json()
    stolen = refresh(client, account.refresh_token, THIEF)
    assert stolen.status_code == 401
    assert "revoked" in stolen.json()["detail"]
    assert "access_token" not in stolen.text
    assert client.get(ME, headers=bearer(pair["access_token"])).status_code == 401
    assert refresh(client, pair["refresh_token"]).status_code == 401
    # Nor does the owner's own retry get the pair back: the session is gone.
    assert refresh(client, account.refresh_token).status_code == 401


def test_after_the_window_a_replay_is_reuse(make_server: Callable[..., LiveServer]) -> None:
    server = make_server(refresh_reuse_grace=1)
    with httpx.Client(base_url=server.url) as client:
        account = logged_in_user(client)
        pair = refresh(client, account.refresh_token).json()
        time.sleep(2.2)  # Redis's clock has whole seconds: > 1 s is past the window
        assert refresh(client, account.refresh_token).status_code == 401
        assert client.get(ME, headers=bearer(pair["access_token"])).status_code == 401


def test_a_grace_of_zero_makes_every_second_presentation_reuse(
    make_server: Callable[..., LiveServer],
) -> None:
    server = make_server(refresh_reuse_grace=0)
    with httpx.Client(base_url=server.url) as client:
        account = logged_in_user(client)
        pair = refresh(client, account.refresh_token).json()
        assert refresh(client, account.refresh_token).status_code == 401
        assert client.get(ME, headers=bearer(pair["access_token"])).status_code == 401


def test_the_grandparent_is_reuse_once_the_successor_was_spent(client: httpx.Client) -> None:
    account = logged_in_user(client)
    first = refresh(client, account.refresh_token).json()
    second = refresh(client, first["refresh_token"]).json()
    # The first token's successor is spent: re-issuing it would fork the family.
    assert refresh(client, account.refresh_token).status_code == 401
    assert client.get(ME, headers=bearer(second["access_token"])).status_code == 401


def test_the_successor_is_signed_by_the_current_key_and_dated_at_first_use(client: httpx.Client) -> None:
    account = logged_in_user(client)
    pair = refresh(client, account.refresh_token).json()
    header = jwt.get_unverified_header(pair["access_token"])
    assert header["alg"] == "EdDSA" and header["kid"]
    claims = jwt.decode(pair["refresh_token"], options={"verify_signature": False})
    parent = jwt.decode(account.refresh_token, options={"verify_signature": False})
    assert claims["jti"] != parent["jti"] and claims["sid"] == parent["sid"]
    assert abs(claims["iat"] - time.time()) < 5
