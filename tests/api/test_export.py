"""The caller's export: one JSON attachment of everything held about them, streamed, never in memory."""

from __future__ import annotations

import json
import sqlite3
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from tests.factories import PASSWORD, assert_problem, logged_in_user
from tests.support.live import LiveServer

EXPORT = "/api/v1/users/me/export"


def test_the_export_holds_the_account_notes_sessions_tokens_and_events(client: httpx.Client) -> None:
    account = logged_in_user(client)
    for n in range(3):
        client.post("/api/v1/notes", json={"title": f"note {n}", "body": "ünïcode"}, headers=account.auth)
    pat = client.post(
        "/api/v1/auth/tokens",
        json={"name": "ci", "scopes": ["notes:read"], "current_password": PASSWORD},
        headers=account.auth,
    ).json()
    response = client.get(EXPORT, headers=account.auth)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["Cache-Control"] == "no-store"
    document = response.json()
    assert document["complete"] is True
    assert document["account"] == client.get("/api/v1/users/me", headers=account.auth).json()
    assert [note["title"] for note in document["notes"]] == ["note 2", "note 1", "note 0"]
    assert document["notes"][0]["body"] == "ünïcode"
    (session,) = document["sessions"]
    assert session["current"] is True and session["ip"] == "127.0.0.1"
    assert [event["type"] for event in document["events"]] == ["token_created", "login"]
    (token,) = document["personal_access_tokens"]
    assert (token["name"], token["scopes"]) == ("ci", ["notes:read"])
    assert document["second_factor"] == {"totp": False}
    # Nothing secret: no token, no hash, no account key.
    text = response.text
    secrets = (account.access_token, account.refresh_token, pat["token"], PASSWORD, "$2b$", "account_key")
    for secret in secrets:
        assert secret not in text


def test_no_credentials_is_401(client: httpx.Client) -> None:
    assert_problem(client.get(EXPORT), 401)


def test_100_000_notes_stream_in_bounded_memory(
    make_server: Callable[..., LiveServer], sqlite_url: str
) -> None:
    server = make_server(database_url=sqlite_url)
    with httpx.Client(base_url=server.url, timeout=120) as client:
        account = logged_in_user(client)
        count, body = 100_000, "x" * 300
        now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
        with sqlite3.connect(sqlite_url.removeprefix("sqlite+aiosqlite:///")) as db:
            rows = ((account.id, f"n{i}", body, now, now) for i in range(count))
            db.executemany(
                "INSERT INTO notes (user_id, title, body, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                rows,
            )
        # Server and client share this process: tracemalloc sees both sides' allocations.
        tracemalloc.start()
        try:
            received = bytearray()
            with client.stream("GET", EXPORT, headers=account.auth) as response:
                assert response.status_code == 200
                assert "Content-Length" not in response.headers  # streamed, chunk by chunk
                for piece in response.iter_bytes():
                    received += piece
                    if len(received) > 1_000_000:
                        del received[:-200]  # keep only the tail: the test must not hold it all either
                        received[:0] = b"..."
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        total_size = count * (len(body) + 100)  # about 40 MB of JSON
        assert peak < 12_000_000, f"peak {peak / 1e6:.1f} MB for a {total_size / 1e6:.0f} MB export"
        assert received.endswith(b'"complete": true}\n')
        # And the whole document is there: read it again, parsed.
        document = json.loads(client.get(EXPORT, headers=account.auth).content)
        assert len(document["notes"]) == count
        assert document["notes"][0]["title"] == f"n{count - 1}"
