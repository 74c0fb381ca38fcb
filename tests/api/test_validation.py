"""Request text that cannot be stored or hashed is a 400 at the door, never a 500 further in."""

from __future__ import annotations

import httpx
import pytest

from tests.factories import logged_in_user


@pytest.mark.parametrize(
    "raw",
    [
        b'{"username": "someone", "password": "\\ud800xxxxxxxx"}',  # an escaped lone surrogate
        b'{"username": "someone", "password": "\xed\xa0\x80xxxxxxxx"}',  # one encoded as UTF-8 bytes
    ],
)
@pytest.mark.parametrize("path", ["/api/v1/auth/login", "/api/v1/auth/register"])
def test_an_unpaired_surrogate_is_a_400(client: httpx.Client, raw: bytes, path: str) -> None:
    response = client.post(path, content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"


def test_an_unpaired_surrogate_in_a_note_is_a_400(client: httpx.Client) -> None:
    account = logged_in_user(client)
    response = client.post(
        "/api/v1/notes",
        content=b'{"title": "x\\udc00"}',
        headers={"Content-Type": "application/json"} | account.auth,
    )
    assert response.status_code == 400


def test_a_surrogate_pair_is_ordinary_text(client: httpx.Client) -> None:
    account = logged_in_user(client)
    response = client.post(
        "/api/v1/notes",
        content=b'{"title": "smile \\ud83d\\ude00"}',
        headers={"Content-Type": "application/json"} | account.auth,
    )
    assert response.status_code == 201
    assert response.json()["title"] == "smile \U0001f600"


@pytest.mark.parametrize("path", ["/api/v1/auth/login", "/api/v1/session"])
@pytest.mark.parametrize("username", ["nul\u0000name", "x" * 500, "ab", "spaced name"])
def test_a_username_no_account_can_have_is_a_plain_401(
    client: httpx.Client, path: str, username: str
) -> None:
    # PostgreSQL refuses a NUL in text; such a name must not reach the query (found by schemathesis).
    response = client.post(path, json={"username": username, "password": "whatever-password"})
    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid username or password."
