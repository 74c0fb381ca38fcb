"""Cookie sessions for browsers: Flask-Session on Redis, no fixation, JSON only, CSRF."""

from __future__ import annotations

import json
import os
import pickle
import re
from collections.abc import Callable
from pathlib import Path

import httpx
import msgspec
import pytest
import redis

from tests.factories import PASSWORD, Account, log_in, register
from tests.support.cluster import sync_client
from tests.support.live import LiveServer
from tests.support.processes import RedisServer
from tests.support.round_trips import RoundTripCounter, counted_client

SESSION = "/api/v1/session"
ME = "/api/v1/users/me"
SESSIONS = "/api/v1/auth/sessions"
LOGOUT_ALL = "/api/v1/auth/logout-all"


def cookie_log_in(client: httpx.Client, account: Account, cookie: str | None = None) -> httpx.Response:
    headers = {"Cookie": f"session={cookie}"} if cookie else {}
    body = {"username": account.username, "password": account.password}
    response = client.post(SESSION, json=body, headers=headers)
    client.cookies.clear()  # tests send the cookie explicitly (it is Secure; the server is plain http)
    return response


def browser(client: httpx.Client, account: Account) -> tuple[str, str]:
    """Log ``account`` in with a cookie: (the session cookie's value, the CSRF token)."""
    response = cookie_log_in(client, account)
    assert response.status_code == 200, response.text
    return response.cookies["session"], response.json()["csrf_token"]


def with_cookie(sid: str, csrf: str | None = None) -> dict[str, str]:
    headers = {"Cookie": f"session={sid}"}
    if csrf is not None:
        headers["X-CSRF-Token"] = csrf
    return headers


def test_cookie_login_sets_a_hardened_cookie_holding_only_an_id(
    client: httpx.Client, server: LiveServer, redis_url: str
) -> None:
    account = register(client)
    response = cookie_log_in(client, account)
    assert response.status_code == 200
    assert set(response.json()) == {"csrf_token"}
    assert response.headers["Cache-Control"] == "no-store"
    set_cookie = response.headers["Set-Cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in set_cookie.split(";")}
    assert {"httponly", "secure", "path"} <= attributes
    assert "SameSite=Lax" in set_cookie
    sid = response.cookies["session"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", sid)  # 32 random bytes, nothing else
    store = sync_client(redis_url)
    record = json.loads(store.get(f"auth:cookie:{sid}"))
    assert record["uid"] == account.id
    assert 0 < store.ttl(f"auth:cookie:{sid}") <= server.settings.refresh_token_ttl


def test_the_cookie_is_not_secure_in_development(make_server: Callable[..., LiveServer]) -> None:
    server = make_server(app_env="development")
    with httpx.Client(base_url=server.url) as client:
        response = cookie_log_in(client, register(client))
        assert response.status_code == 200
        set_cookie = response.headers["Set-Cookie"]
        assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie
        assert "Secure" not in set_cookie


def test_the_cookie_authenticates_reads_without_csrf(client: httpx.Client) -> None:
    account = register(client)
    sid, _ = browser(client, account)
    response = client.get(ME, headers=with_cookie(sid))
    assert response.status_code == 200
    assert response.json()["id"] == account.id


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("DELETE", SESSION, None),
        ("POST", "/api/v1/auth/logout", None),
        ("POST", "/api/v1/auth/logout-all", None),
        ("PUT", "/api/v1/users/me/password", {"current_password": PASSWORD, "new_password": "x" * 12}),
    ],
)
def test_unsafe_methods_with_the_cookie_need_the_csrf_token(
    client: httpx.Client, method: str, path: str, body: dict | None
) -> None:
    account = register(client)
    sid, csrf = browser(client, account)
    for headers in (with_cookie(sid), with_cookie(sid, ""), with_cookie(sid, csrf[:-1] + "x")):
        response = client.request(method, path, json=body, headers=headers)
        assert response.status_code == 403
        assert response.headers["Content-Type"] == "application/problem+json"
    assert client.get(ME, headers=with_cookie(sid)).status_code == 200  # nothing happened
    assert client.request(method, path, json=body, headers=with_cookie(sid, csrf)).status_code == 204


def test_bearer_requests_need_no_csrf_token(client: httpx.Client) -> None:
    account = log_in(client, register(client))
    assert client.post("/api/v1/auth/logout", headers=account.auth).status_code == 204


def test_one_users_csrf_token_does_not_fit_anothers_cookie(client: httpx.Client) -> None:
    alice_sid, _ = browser(client, register(client))
    _, mallory_csrf = browser(client, register(client))
    assert client.delete(SESSION, headers=with_cookie(alice_sid, mallory_csrf)).status_code == 403


def test_cookie_logout_deletes_the_server_side_record(client: httpx.Client, redis_url: str) -> None:
    sid, csrf = browser(client, register(client))
    store = sync_client(redis_url)
    assert store.exists(f"auth:cookie:{sid}")
    response = client.delete(SESSION, headers=with_cookie(sid, csrf))
    assert response.status_code == 204
    assert 'session=""' in response.headers["Set-Cookie"] or "session=;" in response.headers["Set-Cookie"]
    assert not store.exists(f"auth:cookie:{sid}")
    assert client.get(ME, headers=with_cookie(sid)).status_code == 401
    assert client.delete(SESSION, headers=with_cookie(sid, csrf)).status_code == 401


def test_logout_without_a_session_is_401(client: httpx.Client) -> None:
    assert client.delete(SESSION).status_code == 401


def test_a_planted_unknown_id_is_replaced_at_login_and_never_authenticated(client: httpx.Client) -> None:
    planted = "attacker-chosen-id-" + "a" * 30
    account = register(client)
    response = cookie_log_in(client, account, cookie=planted)
    assert response.status_code == 200
    assert response.cookies["session"] != planted
    assert client.get(ME, headers=with_cookie(planted)).status_code == 401


def test_a_planted_live_id_is_replaced_at_login_and_never_becomes_the_victims(client: httpx.Client) -> None:
    attacker, victim = register(client), register(client)
    planted, _ = browser(client, attacker)  # a real session id, with a real record
    response = cookie_log_in(client, victim, cookie=planted)
    assert response.status_code == 200
    fresh = response.cookies["session"]
    assert fresh != planted
    assert client.get(ME, headers=with_cookie(fresh)).json()["id"] == victim.id
    # The planted id is dead: neither the victim's login nor the attacker's own.
    assert client.get(ME, headers=with_cookie(planted)).status_code == 401


def test_the_cookie_id_changes_at_every_login(client: httpx.Client) -> None:
    account = register(client)
    first, _ = browser(client, account)
    second = cookie_log_in(client, account, cookie=first).cookies["session"]
    assert second != first
    assert client.get(ME, headers=with_cookie(second)).status_code == 200
    assert client.get(ME, headers=with_cookie(first)).status_code == 401


def _foreign_records(marker: Path, real: dict) -> list[bytes]:
    class Exploit:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (os.mkdir, (str(marker),))

    return [
        pickle.dumps(Exploit()),
        pickle.dumps(real),  # what an older Flask-Session would have written
        msgspec.msgpack.encode(real),  # Flask-Session's default format
        b"\x00\xff not json at all",
        b"[1, 2, 3]",
        b'"a string"',
        b"{" * 100_000,
    ]


def test_a_foreign_or_garbage_record_is_an_anonymous_session_never_a_500(
    client: httpx.Client, redis_url: str, tmp_path: Path
) -> None:
    sid, _ = browser(client, register(client))
    store = sync_client(redis_url)
    real = json.loads(store.get(f"auth:cookie:{sid}"))
    marker = tmp_path / "pickle-ran"
    for number, record in enumerate(_foreign_records(marker, real)):
        planted = f"foreign-record-{number}"
        store.set(f"auth:cookie:{planted}", record, ex=60)
        response = client.get(ME, headers=with_cookie(planted))
        assert response.status_code == 401, (number, response.text)
        assert response.headers["Content-Type"] == "application/problem+json"
    assert not marker.exists()


def test_cookie_and_bearer_logins_are_sessions_alike(client: httpx.Client, redis_url: str) -> None:
    account = log_in(client, register(client))
    sid, _ = browser(client, account)
    listed = client.get(SESSIONS, headers=with_cookie(sid)).json()
    assert len(listed) == 2
    assert sum(s["current"] for s in listed) == 1
    assert client.post("/api/v1/auth/logout-all", headers=account.auth).status_code == 204
    assert client.get(ME, headers=with_cookie(sid)).status_code == 401
    assert not sync_client(redis_url).exists(f"auth:cookie:{sid}")


def test_logout_all_ends_every_cookie_login_of_the_account(client: httpx.Client, redis_url: str) -> None:
    account = log_in(client, register(client))
    cookies = [browser(client, account)[0] for _ in range(4)]
    assert client.post(LOGOUT_ALL, headers=account.auth).status_code == 204
    store = sync_client(redis_url)
    for sid in cookies:
        assert client.get(ME, headers=with_cookie(sid)).status_code == 401
        assert not store.exists(f"auth:cookie:{sid}")


def _logout_all_round_trips(client: httpx.Client, counter: RoundTripCounter, cookie_logins: int) -> int:
    account = log_in(client, register(client))
    for _ in range(cookie_logins):
        browser(client, account)
    before = counter.count
    assert client.post(LOGOUT_ALL, headers=account.auth).status_code == 204
    return counter.count - before


def test_logout_all_costs_the_same_round_trips_however_many_cookie_logins(
    make_server: Callable[..., LiveServer], single_node_redis_url: str
) -> None:
    # The cookie records are in other slots than the sessions: deleted after
    # the script, in one pipeline rather than one DEL each.
    with counted_client(make_server, single_node_redis_url) as (client, counter):
        _logout_all_round_trips(client, counter, 1)  # loads the scripts into this Redis
        one = _logout_all_round_trips(client, counter, 1)
        several = _logout_all_round_trips(client, counter, 5)
    assert several == one


def test_deleting_the_cookie_session_from_another_device_ends_it(
    client: httpx.Client, redis_url: str
) -> None:
    account = log_in(client, register(client))
    sid, _ = browser(client, account)
    cookie_session = next(s for s in client.get(SESSIONS, headers=with_cookie(sid)).json() if s["current"])
    assert client.delete(f"{SESSIONS}/{cookie_session['id']}", headers=account.auth).status_code == 204
    assert client.get(ME, headers=with_cookie(sid)).status_code == 401
    assert not sync_client(redis_url).exists(f"auth:cookie:{sid}")


def test_wrong_credentials_at_cookie_login_are_401_without_a_cookie(client: httpx.Client) -> None:
    account = register(client)
    response = client.post(SESSION, json={"username": account.username, "password": "not the password"})
    assert response.status_code == 401
    assert "Set-Cookie" not in response.headers


def test_cookie_login_is_rate_limited(
    make_server: Callable[..., LiveServer], private_redis: RedisServer
) -> None:
    server = make_server(redis_url=private_redis.url, login_max_per_account=2, login_max_per_ip=50)
    with httpx.Client(base_url=server.url) as client:
        account = register(client)
        wrong = {"username": account.username, "password": "not the password"}
        statuses = [client.post(SESSION, json=wrong).status_code for _ in range(3)]
        assert statuses == [401, 401, 429]
        limited = client.post(SESSION, json={"username": account.username, "password": PASSWORD})
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) > 0


def test_redis_down_while_opening_the_cookie_session_is_503(
    make_server: Callable[..., LiveServer], private_redis: RedisServer
) -> None:
    server = make_server(redis_url=private_redis.url)
    with httpx.Client(base_url=server.url) as client:
        sid, _ = browser(client, register(client))
        private_redis.stop()
        response = client.get(ME, headers=with_cookie(sid))
        assert response.status_code == 503
        assert response.headers["Content-Type"] == "application/problem+json"
        assert response.json()["status"] == 503
        private_redis.start()
        # Redis came back empty: the service reconnects, and the login is gone (fail-safe).
        assert client.get(ME, headers=with_cookie(sid)).status_code == 401


def test_redis_failing_while_saving_the_cookie_session_is_503(
    make_server: Callable[..., LiveServer], private_redis: RedisServer
) -> None:
    server = make_server(redis_url=private_redis.url)
    with httpx.Client(base_url=server.url) as client:
        account = register(client)
        # A real Redis that refuses only SET: the one command Flask-Session saves with.
        private_redis.client().execute_command("ACL", "SETUSER", "default", "-set")
        response = cookie_log_in(client, account)
        assert response.status_code == 503
        assert response.headers["Content-Type"] == "application/problem+json"


def test_every_authenticated_endpoint_takes_the_cookie_with_csrf_on_writes(client: httpx.Client) -> None:
    sid, csrf = browser(client, register(client))
    note = {"title": "from a browser", "body": "cookie and CSRF token"}
    assert client.post("/api/v1/notes", json=note, headers=with_cookie(sid)).status_code == 403
    created = client.post("/api/v1/notes", json=note, headers=with_cookie(sid, csrf))
    assert created.status_code == 201
    location = created.headers["Location"]
    assert client.get(location, headers=with_cookie(sid)).status_code == 200
    assert client.patch(location, json={"title": "x"}, headers=with_cookie(sid)).status_code == 403
    assert client.delete(location, headers=with_cookie(sid)).status_code == 403
    assert client.delete(location, headers=with_cookie(sid, csrf)).status_code == 204


def _commands(store: redis.Redis) -> dict[str, int]:
    stats = store.info("commandstats")
    return {name.removeprefix("cmdstat_"): value["calls"] for name, value in stats.items()}


def test_a_cookie_request_costs_two_redis_round_trips(
    make_server: Callable[..., LiveServer], private_redis: RedisServer
) -> None:
    server = make_server(redis_url=private_redis.url)
    store = redis.Redis.from_url(private_redis.url)
    with httpx.Client(base_url=server.url) as client:
        sid, _ = browser(client, register(client))
        client.get(ME, headers=with_cookie(sid))  # loads the check script into this fresh Redis
        before = _commands(store)
        for _ in range(25):
            assert client.get(ME, headers=with_cookie(sid)).status_code == 200
        after = _commands(store)
    spent = {name: after[name] - before.get(name, 0) for name in after if after[name] != before.get(name, 0)}
    for own_or_idle in ("info", "ping"):
        spent.pop(own_or_idle, None)
    # Flask-Session's GET of the record, then the session check script (whose
    # HGET, TIME and HSET run inside Redis); the record is not written back.
    assert spent == {"get": 25, "evalsha": 25, "hget": 25, "time": 25}
