"""A user id reused by another database never inherits an earlier user's logins.

Two databases that both number users from 1 (a fresh one next to an older
one, or a restored backup) can share one Redis and one secret. Sessions and
tokens name the account by id and its random ``account_key``, and the
database confirms the key, so the newcomer sees only its own sessions and
the earlier user's tokens reach nothing of the newcomer's.
"""

from __future__ import annotations

import secrets
import shutil
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import httpx
import jwt
import redis

from service.auth.session_keys import index_key
from service.users.keys import Account as Owner
from tests.factories import Account, log_in, register
from tests.support.live import LiveServer
from tests.support.processes import RedisServer, migrate

ME = "/api/v1/users/me"
NOTES = "/api/v1/notes"
SESSIONS = "/api/v1/auth/sessions"
REFRESH = "/api/v1/auth/refresh"
SESSION = "/api/v1/session"


def _cookie_login(client: httpx.Client, account: Account) -> str:
    body = {"username": account.username, "password": account.password}
    response = client.post(SESSION, json=body)
    client.cookies.clear()  # sent explicitly below: the cookie is Secure, the server plain http
    assert response.status_code == 200, response.text
    return response.cookies["session"]


def _assert_locked_out(client: httpx.Client, old: Account, new_note: dict) -> None:
    """``old`` (an earlier user with the same id) reaches nothing on this database."""
    assert client.get(ME, headers=old.auth).status_code == 401
    assert client.get(NOTES, headers=old.auth).status_code == 401
    assert client.post(NOTES, json={"title": "planted"}, headers=old.auth).status_code == 401
    assert client.get(f"{NOTES}/{new_note['id']}", headers=old.auth).status_code in (401, 404)
    changed = client.patch(f"{NOTES}/{new_note['id']}", json={"title": "x"}, headers=old.auth)
    assert changed.status_code in (401, 404)
    assert client.delete(f"{NOTES}/{new_note['id']}", headers=old.auth).status_code in (401, 404)
    password = {"current_password": old.password, "new_password": "another fine password"}
    assert client.put(f"{ME}/password", json=password, headers=old.auth).status_code == 401
    assert client.post(REFRESH, json={"refresh_token": old.refresh_token}).status_code == 401


def test_a_fresh_database_next_to_an_older_redis_leaks_no_session(
    make_server: Callable[..., LiveServer], private_redis: RedisServer
) -> None:
    secret = secrets.token_urlsafe(48)
    first = make_server(redis_url=private_redis.url, secret_key=secret)
    second = make_server(redis_url=private_redis.url, secret_key=secret)  # a new, empty database
    with (
        httpx.Client(base_url=first.url, timeout=30) as on_first,
        httpx.Client(base_url=second.url, timeout=30) as on_second,
    ):
        old = log_in(on_first, register(on_first, "olduser"))
        old_cookie = _cookie_login(on_first, old)
        new = log_in(on_second, register(on_second, "newuser"))
        assert old.id == new.id == 1  # the collision this is about

        sessions = on_second.get(SESSIONS, headers=new.auth)
        assert sessions.status_code == 200
        assert [s["current"] for s in sessions.json()] == [True]

        note = on_second.post(NOTES, json={"title": "mine", "body": "secret"}, headers=new.auth).json()
        _assert_locked_out(on_second, old, note)
        assert on_second.get(ME, headers={"Cookie": f"session={old_cookie}"}).status_code == 401

        # The newcomer's own logins are untouched, and so is the old user on its own database.
        assert on_second.get(f"{NOTES}/{note['id']}", headers=new.auth).json() == note
        assert on_second.get(ME, headers=new.auth).json()["username"] == "newuser"
        assert on_first.get(ME, headers=old.auth).json()["username"] == "olduser"
        assert on_first.get(ME, headers={"Cookie": f"session={old_cookie}"}).status_code == 200
        assert on_second.post("/api/v1/auth/logout-all", headers=new.auth).status_code == 204
        assert len(on_first.get(SESSIONS, headers=old.auth).json()) == 2


def _restore(backup: Path, live: Path) -> None:
    for suffix in ("-wal", "-shm"):
        Path(f"{live}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(backup, live)


def test_a_restored_backup_does_not_hand_a_reused_id_the_old_users_tokens(
    make_server: Callable[..., LiveServer], private_redis: RedisServer, tmp_path: Path
) -> None:
    live, backup = tmp_path / "live.db", tmp_path / "backup.db"
    url = f"sqlite+aiosqlite:///{live}"
    migrate(url)
    secret = secrets.token_urlsafe(48)
    before = make_server(url, redis_url=private_redis.url, secret_key=secret)
    with httpx.Client(base_url=before.url, timeout=30) as client:
        first = register(client)
        with closing(sqlite3.connect(live)) as source, closing(sqlite3.connect(backup)) as target:
            source.backup(target)  # the nightly backup, taken live: user 1 only
        old = log_in(client, register(client, "lostuser"))
        assert old.id == 2
    before.stop()

    _restore(backup, live)  # the database is rolled back; Redis still holds user 2's login
    after = make_server(url, redis_url=private_redis.url, secret_key=secret)
    with httpx.Client(base_url=after.url, timeout=30) as client:
        new = log_in(client, register(client, "newcomer"))
        assert new.id == old.id == 2
        note = client.post(NOTES, json={"title": "mine"}, headers=new.auth).json()
        _assert_locked_out(client, old, note)
        assert client.get(NOTES, headers=new.auth).json()["items"] == [note]
        assert [s["current"] for s in client.get(SESSIONS, headers=new.auth).json()] == [True]
        assert log_in(client, first).id == 1


def test_a_token_without_the_account_key_is_not_valid(client: httpx.Client, server: LiveServer) -> None:
    # Tokens issued before account keys existed have no "ak": their users log in again once.
    account = log_in(client, register(client))
    payload = jwt.decode(account.access_token, options={"verify_signature": False})
    assert set(payload) >= {"sub", "sid", "ak"}
    assert client.get(ME, headers=account.auth).status_code == 200
    for claims in ({k: v for k, v in payload.items() if k != "ak"}, payload | {"ak": "1" * 31}):
        token = jwt.encode(claims, server.settings.secret_key.get_secret_value(), algorithm="HS256")
        response = client.get(ME, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert response.json()["detail"] == "The token is not valid."


def test_the_account_key_is_never_shown(client: httpx.Client, server: LiveServer, redis_url: str) -> None:
    account = log_in(client, register(client))
    key = jwt.decode(account.access_token, options={"verify_signature": False})["ak"]
    sid = _cookie_login(client, account)
    shown = [
        client.get(ME, headers=account.auth).text,
        client.get(SESSIONS, headers=account.auth).text,
        client.post(NOTES, json={"title": "t"}, headers=account.auth).text,
        client.get(NOTES, headers={"Cookie": f"session={sid}"}).text,
        client.get("/openapi.json").text,
    ]
    assert not [text for text in shown if key in text or "account_key" in text]
    # Redis names the session's owner by id and key, so a reused id never matches it.
    store = redis.Redis.from_url(redis_url, decode_responses=True)
    assert store.zcard(index_key(Owner(account.id, key))) == 2
