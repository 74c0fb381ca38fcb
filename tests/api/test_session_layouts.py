"""Sessions recorded by earlier releases keep working: an upgrade logs nobody out.

Each test logs in, rewrites the session's record into the layout an earlier
release wrote, then uses the session through the running server.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import httpx
import redis

from service.auth.session_keys import short_id
from tests.factories import Account, register
from tests.support.live import LiveServer
from tests.support.processes import RedisServer

SESSIONS = "/api/v1/auth/sessions"
LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
ME = "/api/v1/users/me"


def _log_in(client: httpx.Client, user_agent: str) -> Account:
    account = register(client)
    body = {"username": account.username, "password": account.password}
    response = client.post(LOGIN, json=body, headers={"User-Agent": user_agent})
    assert response.status_code == 200, response.text
    pair = response.json()
    return Account(
        account.username, account.password, account.id, pair["access_token"], pair["refresh_token"]
    )


def _record(store: redis.Redis) -> str:
    (record,) = store.scan_iter("auth:s:*")
    return record


def _token_id(token: str) -> str:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["jti"]


def _unpack(store: redis.Redis, record: str, account: Account) -> None:
    """Rewrite the record as the release before packed records wrote it (``r``, ``a``, ``i``)."""
    packed = store.hget(record, "c")
    assert packed is not None
    digest, ip = packed[11:23], packed[23:]
    store.hdel(record, "c")
    store.hset(record, mapping={"r": short_id(_token_id(account.refresh_token)), "a": digest, "i": ip})


def test_a_session_recorded_before_records_were_packed_keeps_working(
    make_server: Callable[..., LiveServer], private_redis: RedisServer
) -> None:
    server = make_server(redis_url=private_redis.url)
    store = private_redis.client()
    with httpx.Client(base_url=server.url) as client:
        account = _log_in(client, "unpacked/1.0")
        record = _record(store)
        _unpack(store, record, account)
        assert client.get(ME, headers=account.auth).status_code == 200
        listed = client.get(SESSIONS, headers=account.auth).json()
        assert [(s["user_agent"], s["ip"]) for s in listed] == [("unpacked/1.0", "127.0.0.1")]
        agent = {"User-Agent": "unpacked/1.0"}
        refreshed = client.post(REFRESH, json={"refresh_token": account.refresh_token}, headers=agent)
        assert refreshed.status_code == 200, refreshed.text
        # The rotation rewrote the record in the packed layout, and the old token is spent.
        assert set(store.hkeys(record)) == {"s", "c", "t", "g"}
        successor = refreshed.json()
        me = client.get(ME, headers={"Authorization": f"Bearer {successor['access_token']}"})
        assert me.status_code == 200
        listed = client.get(SESSIONS, headers={"Authorization": f"Bearer {successor['access_token']}"})
        assert [(s["user_agent"], s["ip"]) for s in listed.json()] == [("unpacked/1.0", "127.0.0.1")]
        again = client.post(REFRESH, json={"refresh_token": successor["refresh_token"]})
        assert again.status_code == 200


def test_a_session_recorded_before_agents_were_shared_still_shows_its_agent(
    make_server: Callable[..., LiveServer], private_redis: RedisServer
) -> None:
    # Two layouts before: an 8-character digest in the record, the agent under the account's tag.
    server = make_server(redis_url=private_redis.url)
    store = private_redis.client()
    with httpx.Client(base_url=server.url) as client:
        account = _log_in(client, "old-layout/1.0")
        record = _record(store)
        _unpack(store, record, account)
        tag = record[len("auth:s:") :].split("}", 1)[0] + "}"
        for key in store.scan_iter("auth:ua:*"):
            store.delete(key)
        store.hset(record, "a", "AbCdEfGh")
        store.set(f"auth:ua:{tag}AbCdEfGh", "old-layout/1.0", ex=60)
        response = client.get(SESSIONS, headers=account.auth)
    assert [s["user_agent"] for s in response.json()] == ["old-layout/1.0"]
