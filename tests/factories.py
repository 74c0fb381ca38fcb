"""Builders for test data: unique users, logged-in clients."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import httpx

PASSWORD = "correct horse battery"


def random_username(prefix: str = "user") -> str:
    return f"{prefix}_{secrets.token_hex(6)}"


@dataclass
class Account:
    username: str
    password: str
    id: int
    access_token: str = ""
    refresh_token: str = ""

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def register(client: httpx.Client, username: str | None = None, password: str = PASSWORD) -> Account:
    username = username or random_username()
    response = client.post("/api/v1/auth/register", json={"username": username, "password": password})
    assert response.status_code == 201, response.text
    return Account(username, password, response.json()["id"])


def log_in(client: httpx.Client, account: Account) -> Account:
    response = client.post(
        "/api/v1/auth/login", json={"username": account.username, "password": account.password}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    account.access_token, account.refresh_token = body["access_token"], body["refresh_token"]
    return account


def logged_in_user(client: httpx.Client) -> Account:
    return log_in(client, register(client))


PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int) -> dict:
    """Check that ``response`` is the problem+json of ``status`` and return its body."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert body["title"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert response.text.endswith("}\n")  # a curl user's prompt starts on a line of its own
    assert response.reason_phrase == body["title"]
    return body
