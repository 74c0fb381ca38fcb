"""Every bad token is a 401 with a problem body and WWW-Authenticate: Bearer."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest

from service.auth.tokens import ALGORITHM
from tests.factories import logged_in_user
from tests.support.live import LiveServer

ME = "/api/v1/users/me"


def forge(server: LiveServer, token: str, **changes: object) -> str:
    """A validly signed copy of ``token`` with claims changed, or dropped where None."""
    claims = jwt.decode(token, options={"verify_signature": False})
    claims.update(changes)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, server.settings.secret_key.get_secret_value(), algorithm=ALGORITHM)


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "header",
    ["", "Bearer", "Basic dXNlcjpwYXNz", "Bearer not.a.jwt", "Bearer a.b", "Token abc"],
)
def test_missing_or_malformed_tokens_are_refused(client: httpx.Client, header: str) -> None:
    headers = {"Authorization": header} if header else {}
    assert_refused(client.get(ME, headers=headers))


@pytest.mark.parametrize("claim", ["exp", "iat", "sub", "ak", "jti", "typ", "sid"])
def test_a_token_without_a_required_claim_is_refused(
    client: httpx.Client, server: LiveServer, claim: str
) -> None:
    account = logged_in_user(client)
    token = forge(server, account.access_token, **{claim: None})
    assert_refused(client.get(ME, headers={"Authorization": f"Bearer {token}"}))


def test_an_expired_token_is_refused(client: httpx.Client, server: LiveServer) -> None:
    account = logged_in_user(client)
    past = int(time.time()) - 3600
    token = forge(server, account.access_token, iat=past - 60, exp=past)
    response = client.get(ME, headers={"Authorization": f"Bearer {token}"})
    assert_refused(response)
    assert "expired" in response.json()["detail"]


def test_a_token_signed_with_another_key_is_refused(client: httpx.Client) -> None:
    account = logged_in_user(client)
    claims = jwt.decode(account.access_token, options={"verify_signature": False})
    token = jwt.encode(claims, "another-key-that-is-long-enough-for-hs256!", algorithm=ALGORITHM)
    assert_refused(client.get(ME, headers={"Authorization": f"Bearer {token}"}))


def test_other_algorithms_are_refused(client: httpx.Client, server: LiveServer) -> None:
    account = logged_in_user(client)
    claims = jwt.decode(account.access_token, options={"verify_signature": False})
    for algorithm in ("HS512", "none"):
        key = None if algorithm == "none" else server.settings.secret_key.get_secret_value()
        token = jwt.encode(claims, key, algorithm=algorithm)
        assert_refused(client.get(ME, headers={"Authorization": f"Bearer {token}"}))


def test_a_non_string_subject_is_refused(client: httpx.Client, server: LiveServer) -> None:
    account = logged_in_user(client)
    token = forge(server, account.access_token, sub=account.id)
    assert_refused(client.get(ME, headers={"Authorization": f"Bearer {token}"}))


def test_a_token_for_another_users_session_is_refused(client: httpx.Client, server: LiveServer) -> None:
    victim, attacker = logged_in_user(client), logged_in_user(client)
    victim_sid = jwt.decode(victim.access_token, options={"verify_signature": False})["sid"]
    # Even with the signing key, pointing one's token at another user's live session fails.
    token = forge(server, attacker.access_token, sid=victim_sid)
    assert_refused(client.get(ME, headers={"Authorization": f"Bearer {token}"}))


def test_a_refresh_token_cannot_authorize_a_request(client: httpx.Client) -> None:
    account = logged_in_user(client)
    assert_refused(client.get(ME, headers={"Authorization": f"Bearer {account.refresh_token}"}))
