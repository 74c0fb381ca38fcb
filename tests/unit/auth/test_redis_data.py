"""What Redis holds: every key expires, and losing it all never brings a revoked token back."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from config.settings import Settings
from service.auth.password_epochs import EPOCH_TTL
from service.auth.tokens.personal import USED_EVERY, VERDICT_TTL
from tests.factories import PASSWORD, Account, log_in, register
from tests.support.live import LiveServer
from tests.support.processes import RedisServer

ME = "/api/v1/users/me"
REFRESH = "/api/v1/auth/refresh"
SESSION = "/api/v1/session"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def cookie(sid: str, csrf: str | None = None) -> dict[str, str]:
    headers = {"Cookie": f"session={sid}"}
    if csrf is not None:
        headers["X-CSRF-Token"] = csrf
    return headers


def cookie_login(client: httpx.Client, account: Account, planted: str | None = None) -> tuple[str, str]:
    headers = cookie(planted) if planted else {}
    body = {"username": account.username, "password": account.password}
    response = client.post(SESSION, json=body, headers=headers)
    client.cookies.clear()
    assert response.status_code == 200, response.text
    return response.cookies["session"], response.json()["csrf_token"]


@pytest.fixture
def isolated_server(make_server: Callable[..., LiveServer], private_redis: RedisServer) -> LiveServer:
    """A server on a Redis of its own, which tests may flush or restart."""
    return make_server(redis_url=private_redis.url, login_max_per_account=3)


@pytest.fixture
def isolated(isolated_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=isolated_server.url, timeout=30) as client:
        yield client


# Each flow exercises one path that writes to Redis.
def _login_and_use(client: httpx.Client) -> None:
    account = log_in(client, register(client))
    assert client.get(ME, headers=account.auth).status_code == 200
    assert client.get("/api/v1/auth/sessions", headers=account.auth).status_code == 200


def _failed_and_limited_logins(client: httpx.Client) -> None:
    account = register(client)
    for _ in range(4):
        client.post("/api/v1/auth/login", json={"username": account.username, "password": "wrong password"})
    client.post("/api/v1/auth/login", json={"username": "nobody-" + "x" * 500, "password": "wrong password"})


def _refresh_and_reuse(client: httpx.Client) -> None:
    account = log_in(client, register(client))
    assert client.post(REFRESH, json={"refresh_token": account.refresh_token}).status_code == 200
    # The same client within the grace gets the same pair again; another client is reuse.
    assert client.post(REFRESH, json={"refresh_token": account.refresh_token}).status_code == 200
    thief = {"User-Agent": "thief/1.0"}
    assert (
        client.post(REFRESH, json={"refresh_token": account.refresh_token}, headers=thief).status_code == 401
    )


def _personal_tokens(client: httpx.Client) -> None:
    account = log_in(client, register(client))
    body = {"name": "ci", "scopes": ["profile:read"], "current_password": PASSWORD}
    for _ in range(2):
        created = client.post("/api/v1/auth/tokens", json=body, headers=account.auth).json()
        assert client.get(ME, headers=bearer(created["token"])).status_code == 200
    path = f"/api/v1/auth/tokens/{created['id']}"
    assert client.delete(path, headers=account.auth).status_code == 204


def _logouts(client: httpx.Client) -> None:
    account = log_in(client, register(client))
    other = log_in(client, Account(account.username, account.password, account.id))
    assert client.post("/api/v1/auth/logout", headers=other.auth).status_code == 204
    third = log_in(client, Account(account.username, account.password, account.id))
    sessions = client.get("/api/v1/auth/sessions", headers=third.auth).json()
    first_id = next(s["id"] for s in sessions if not s["current"])
    assert client.delete(f"/api/v1/auth/sessions/{first_id}", headers=third.auth).status_code == 204
    assert client.post("/api/v1/auth/logout-all", headers=third.auth).status_code == 204


def _password_change(client: httpx.Client) -> None:
    account = log_in(client, register(client))
    log_in(client, Account(account.username, account.password, account.id))
    wrong = {"current_password": "wrong password", "new_password": "another password"}
    assert client.put("/api/v1/users/me/password", json=wrong, headers=account.auth).status_code == 403
    right = {"current_password": PASSWORD, "new_password": "another password"}
    assert client.put("/api/v1/users/me/password", json=right, headers=account.auth).status_code == 204


def _cookie_sessions(client: httpx.Client) -> None:
    account = register(client)
    sid, _ = cookie_login(client, account, planted="planted-id")
    again, csrf_again = cookie_login(client, account, planted=sid)
    assert client.get(ME, headers=cookie(again)).status_code == 200
    assert client.delete(SESSION, headers=cookie(again)).status_code == 403
    assert client.delete(SESSION, headers=cookie(again, csrf_again)).status_code == 204
    kept, _ = cookie_login(client, account)
    assert client.get(ME, headers=cookie(kept)).status_code == 200


FLOWS = [
    _login_and_use,
    _failed_and_limited_logins,
    _refresh_and_reuse,
    _logouts,
    _password_change,
    _cookie_sessions,
    _personal_tokens,
]


def _sweep(store: RedisServer, settings: Settings) -> set[str]:
    """Every key has a TTL within the lifetime of what it protects; the kinds of key seen."""
    bounds = {
        "auth:s:": settings.refresh_token_ttl,
        "auth:i:": settings.refresh_token_ttl,
        "auth:ua:": settings.refresh_token_ttl,
        "auth:cookie:": settings.refresh_token_ttl,
        "auth:limit:": settings.login_window,
        "auth:password-epoch:": EPOCH_TTL,
        "auth:pat:": VERDICT_TTL,  # a verdict, or a revocation's tombstone
        "auth:pat-used:": USED_EVERY,
    }
    redis = store.client()
    seen = set()
    for key in redis.scan_iter(count=1000):
        prefix = next((p for p in bounds if key.startswith(p)), None)
        assert prefix is not None, f"a key nobody accounts for: {key}"
        ttl = redis.ttl(key)
        assert 0 < ttl <= bounds[prefix], f"{key} has TTL {ttl}"
        seen.add(prefix)
    return seen


def test_no_key_is_ever_left_without_a_ttl(
    isolated: httpx.Client, isolated_server: LiveServer, private_redis: RedisServer
) -> None:
    seen: set[str] = set()
    for flow in FLOWS:
        flow(isolated)
        seen |= _sweep(private_redis, isolated_server.settings)
    # The sweep looked at every kind of key the service writes.
    assert seen == {
        "auth:s:",
        "auth:i:",
        "auth:ua:",
        "auth:cookie:",
        "auth:limit:",
        "auth:password-epoch:",
        "auth:pat:",
        "auth:pat-used:",
    }


def _live_and_revoked(client: httpx.Client) -> dict[str, tuple[str, str, dict]]:
    """Requests that work now, some of whose credentials are already revoked."""
    live = log_in(client, register(client))
    logged_out = log_in(client, register(client))
    assert client.post("/api/v1/auth/logout", headers=logged_out.auth).status_code == 204
    spent = log_in(client, register(client))
    assert client.post(REFRESH, json={"refresh_token": spent.refresh_token}).status_code == 200
    sid, _ = cookie_login(client, register(client))
    return {
        "live access token": ("GET", ME, {"headers": live.auth}),
        "live refresh token": ("POST", REFRESH, {"json": {"refresh_token": live.refresh_token}}),
        "logged-out access token": ("GET", ME, {"headers": logged_out.auth}),
        "logged-out refresh token": ("POST", REFRESH, {"json": {"refresh_token": logged_out.refresh_token}}),
        "spent refresh token": ("POST", REFRESH, {"json": {"refresh_token": spent.refresh_token}}),
        "session cookie": ("GET", ME, {"headers": cookie(sid)}),
    }


def _assert_all_refused(client: httpx.Client, requests: dict[str, tuple[str, str, dict]]) -> None:
    for name, (method, path, options) in requests.items():
        assert client.request(method, path, **options).status_code == 401, name


def test_losing_redis_data_revokes_everything_and_resurrects_nothing(
    isolated: httpx.Client, private_redis: RedisServer
) -> None:
    requests = _live_and_revoked(isolated)
    private_redis.client().flushall()
    _assert_all_refused(isolated, requests)
    log_in(isolated, register(isolated))  # users simply log in again


def test_a_redis_restart_without_persistence_fails_safe_and_the_service_reconnects(
    isolated: httpx.Client, private_redis: RedisServer
) -> None:
    requests = _live_and_revoked(isolated)
    private_redis.stop()
    assert isolated.get(ME, headers=requests["live access token"][2]["headers"]).status_code == 503
    private_redis.start()  # same port, empty, and without the service's scripts loaded
    _assert_all_refused(isolated, requests)
    account = log_in(isolated, register(isolated))
    assert isolated.get(ME, headers=account.auth).status_code == 200


def test_with_redis_down_every_auth_endpoint_answers_503(
    isolated: httpx.Client, private_redis: RedisServer
) -> None:
    account = log_in(isolated, register(isolated))
    credentials = {"username": account.username, "password": PASSWORD}
    change = {"current_password": PASSWORD, "new_password": "another password"}
    private_redis.stop()
    requests = [
        ("POST", "/api/v1/auth/login", {"json": credentials}),
        ("POST", SESSION, {"json": credentials}),
        ("POST", REFRESH, {"json": {"refresh_token": account.refresh_token}}),
        ("GET", ME, {"headers": account.auth}),
        ("GET", "/api/v1/auth/sessions", {"headers": account.auth}),
        ("DELETE", f"/api/v1/auth/sessions/{'0' * 32}", {"headers": account.auth}),
        ("POST", "/api/v1/auth/logout", {"headers": account.auth}),
        ("POST", "/api/v1/auth/logout-all", {"headers": account.auth}),
        ("PUT", "/api/v1/users/me/password", {"headers": account.auth, "json": change}),
        ("DELETE", SESSION, {"headers": cookie("some-cookie-id", "token")}),
    ]
    for method, path, options in requests:
        response = isolated.request(method, path, **options)
        assert response.status_code == 503, (method, path, response.text)
        assert response.headers["Content-Type"] == "application/problem+json"


def test_session_records_and_indexes_stay_compact_listpacks(
    isolated: httpx.Client, private_redis: RedisServer
) -> None:
    # The longest user agent kept, and a refresh: the record's fields stay
    # short, so Redis keeps it a listpack (a hashtable costs several times more).
    agent = {"User-Agent": "a" * 300}
    account = register(isolated)
    body = {"username": account.username, "password": account.password}
    pair = isolated.post("/api/v1/auth/login", json=body, headers=agent).json()
    assert (
        isolated.post(REFRESH, json={"refresh_token": pair["refresh_token"]}, headers=agent).status_code
        == 200
    )
    cookie_login(isolated, account)
    sessions = isolated.get("/api/v1/auth/sessions", headers=bearer(pair["access_token"])).json()
    assert {s["user_agent"] for s in sessions} == {"a" * 256, f"python-httpx/{httpx.__version__}"}
    store = private_redis.client()
    records, indexes = list(store.scan_iter("auth:s:*")), list(store.scan_iter("auth:i:*"))
    assert len(records) == 2 and len(indexes) == 1
    assert {store.object("encoding", key) for key in records + indexes} == {"listpack"}
