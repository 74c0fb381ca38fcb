"""Introspection (RFC 7662): client-authenticated, from the live revocation state, never active by mistake."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Callable, Iterator

import httpx
import jwt
import pytest
from redis.cluster import RedisCluster

from service.auth.tokens.signing_keys import load_key_ring
from tests.factories import PASSWORD, logged_in_user
from tests.support.cluster import sync_client
from tests.support.live import LiveServer
from tests.support.processes import RedisServer
from tests.support.round_trips import RoundTripCounter, counted_client
from tests.support.signing import forge, new_key_path

INTROSPECT = "/api/v1/auth/introspect"
CLIENTS = "notes-rs:s3cret-value,other:another-secret"
GOOD = ("notes-rs", "s3cret-value")


@pytest.fixture
def rs_server(make_server: Callable[..., LiveServer]) -> LiveServer:
    return make_server(introspection_clients=CLIENTS)


@pytest.fixture
def rs(rs_server: LiveServer) -> httpx.Client:
    with httpx.Client(base_url=rs_server.url, timeout=30) as http:
        yield http  # type: ignore[misc]


def introspect(client: httpx.Client, token: str, auth: tuple[str, str] | None = GOOD) -> httpx.Response:
    return client.post(INTROSPECT, data={"token": token}, auth=auth)


def test_a_live_access_token_is_active_and_a_logout_makes_it_inactive(rs: httpx.Client) -> None:
    account = logged_in_user(rs)
    response = introspect(rs, account.access_token)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert body["active"] is True and body["typ"] == "access" and body["sub"] == str(account.id)
    assert set(body) == {"active", "sub", "exp", "iat", "jti", "sid", "typ"}
    assert introspect(rs, account.refresh_token).json()["active"] is True
    assert rs.post("/api/v1/auth/logout", headers=account.auth).status_code == 204
    assert introspect(rs, account.access_token).json() == {"active": False}
    assert introspect(rs, account.refresh_token).json() == {"active": False}


def test_a_spent_refresh_token_is_inactive(rs: httpx.Client) -> None:
    account = logged_in_user(rs)
    pair = rs.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh_token}).json()
    assert introspect(rs, account.refresh_token).json() == {"active": False}
    assert introspect(rs, pair["refresh_token"]).json()["active"] is True


def test_personal_tokens_show_their_scope_until_revoked(rs: httpx.Client) -> None:
    account = logged_in_user(rs)
    body = {"name": "ci", "scopes": ["notes:read", "profile:read"], "current_password": PASSWORD}
    created = rs.post("/api/v1/auth/tokens", json=body, headers=account.auth).json()
    answer = introspect(rs, created["token"]).json()
    assert answer["active"] is True and answer["scope"] == "notes:read profile:read"
    assert answer["sub"] == str(account.id)
    assert rs.delete(f"/api/v1/auth/tokens/{created['id']}", headers=account.auth).status_code == 204
    assert introspect(rs, created["token"]).json() == {"active": False}


@pytest.mark.parametrize("token", ["", "garbage", "e30.e30.e30", "pat_" + "a" * 43, "a" * 8000, "é", "pat_"])
def test_anything_not_live_is_exactly_inactive(rs: httpx.Client, token: str) -> None:
    response = introspect(rs, token)
    assert response.status_code == 200
    assert response.json() == {"active": False}


def test_forged_tokens_are_exactly_inactive(rs: httpx.Client, rs_server: LiveServer) -> None:
    account = logged_in_user(rs)
    claims = jwt.decode(account.access_token, options={"verify_signature": False})
    kid = jwt.get_unverified_header(account.access_token)["kid"]
    key = load_key_ring([rs_server.settings.signing_keys.split(",")[0]], production=True).signing_key
    public = rs.get("/.well-known/jwks.json").json()["keys"][0]["x"]
    forged = [
        forge(rs_server.settings, claims, key_path=new_key_path("unlisted")),  # a kid not listed
        jwt.encode(claims, public, algorithm="HS256", headers={"kid": kid}),  # another algorithm
        jwt.encode(claims, None, algorithm="none", headers={"kid": kid}),  # type: ignore[arg-type]
        *(
            jwt.encode(claims, key.private_key, algorithm="EdDSA", headers={"kid": kid, member: value})
            for member, value in (
                ("jku", "https://x.example/k"),
                ("x5u", "https://x.example/c"),
                ("jwk", key.jwk),
            )
        ),
    ]
    for token in forged:
        response = introspect(rs, token)
        assert response.status_code == 200
        assert response.json() == {"active": False}


@pytest.mark.parametrize(
    "auth", [None, ("notes-rs", "wrong"), ("nobody", "s3cret-value"), ("other", "s3cret-value")]
)
def test_without_valid_client_credentials_it_is_401_basic(
    rs: httpx.Client, auth: tuple[str, str] | None
) -> None:
    account = logged_in_user(rs)
    response = introspect(rs, account.access_token, auth=auth)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert response.headers["Content-Type"] == "application/problem+json"
    assert "active" not in response.text


def test_a_malformed_basic_header_is_401(rs: httpx.Client) -> None:
    for header in ("Basic", "Basic !!!", "Basic bm9jb2xvbg==", "Bearer x"):
        response = rs.post(INTROSPECT, data={"token": "x"}, headers={"Authorization": header})
        assert response.status_code == 401


def test_guessing_the_secret_is_limited_like_logins(
    make_server: Callable[..., LiveServer], private_redis: RedisServer
) -> None:
    limits = {"login_max_per_account": 3, "login_max_per_ip": 100}
    server = make_server(introspection_clients=CLIENTS, redis_url=private_redis.url, **limits)
    with httpx.Client(base_url=server.url) as client:
        assert all(
            introspect(client, "x").status_code == 200 for _ in range(5)
        )  # a right secret is not counted
        statuses = [introspect(client, "x", auth=("notes-rs", f"guess-{n}")).status_code for n in range(5)]
        assert statuses[:3] == [401, 401, 401]
        assert statuses[3:] == [429, 429]
        assert introspect(client, "x").status_code == 429  # the right secret waits too


def test_parallel_guesses_are_limited_in_the_order_redis_sees_them(
    make_server: Callable[..., LiveServer], redis_url: str
) -> None:
    """A right secret sent behind twenty wrong ones still in flight meets the limit they exhaust."""
    limits = {"login_max_per_account": 3, "login_max_per_ip": 100}
    # One Redis connection, taken in turn: requests reach Redis in the order they asked for it.
    settings = {"redis_max_connections": 1, "redis_socket_timeout": 10, **limits}
    server = make_server(introspection_clients=CLIENTS, **settings)
    address = "127." + ".".join(str(1 + byte % 250) for byte in secrets.token_bytes(3))  # counters of its own
    redis = sync_client(redis_url)

    async def guess_together() -> tuple[list[int], int, int]:
        transport = httpx.AsyncHTTPTransport(local_address=address)
        async with httpx.AsyncClient(base_url=server.url, transport=transport, timeout=30) as http:
            assert (await http.post(INTROSPECT, data={"token": "x"}, auth=GOOD)).status_code == 200
            # Held in Redis, the first guess keeps the connection and the others queue behind it.
            if isinstance(redis, RedisCluster):
                redis.execute_command("CLIENT PAUSE", 1500, "ALL", target_nodes=RedisCluster.PRIMARIES)
            else:
                redis.execute_command("CLIENT PAUSE", 1500, "ALL")
            wrong = [
                asyncio.ensure_future(http.post(INTROSPECT, data={"token": "x"}, auth=("notes-rs", f"g{n}")))
                for n in range(20)
            ]
            await asyncio.sleep(0.5)  # a margin: the wrong guesses get in line first (three would do)
            right = await http.post(INTROSPECT, data={"token": "x"}, auth=GOOD)
            statuses = [response.status_code for response in await asyncio.gather(*wrong)]
            later = await http.post(INTROSPECT, data={"token": "x"}, auth=GOOD)
            return statuses, right.status_code, later.status_code

    try:
        statuses, right, later = asyncio.run(guess_together())
    finally:
        redis.close()
    assert statuses.count(401) <= 3 and statuses.count(401) + statuses.count(429) == 20, statuses
    # In flight with twenty wrong guesses, and behind them: the right secret waits like any other.
    assert right == 429
    assert later == 429


@pytest.mark.parametrize(
    ("headers", "content", "status"),
    [
        ({"Content-Type": "application/json"}, b'{"token": "x"}', 415),
        ({"Content-Type": "application/x-www-form-urlencoded"}, b"token=" + b"a" * 70000, 413),
        ({"Content-Type": "application/x-www-form-urlencoded"}, b"token=%ff%fe", 400),
        ({"Content-Type": "application/x-www-form-urlencoded"}, b"token=\xff", 400),
        ({"Content-Type": "application/x-www-form-urlencoded"}, b"token=a&token=b", 400),
        ({"Content-Type": "application/x-www-form-urlencoded"}, b"token_type_hint=access", 422),
    ],
)
def test_bad_forms_are_4xx_problems(
    rs: httpx.Client, headers: dict[str, str], content: bytes, status: int
) -> None:
    response = rs.post(INTROSPECT, content=content, headers=headers, auth=GOOD)
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"


def test_redis_down_is_503_never_active(
    make_server: Callable[..., LiveServer], private_redis: RedisServer
) -> None:
    server = make_server(introspection_clients=CLIENTS, redis_url=private_redis.url)
    with httpx.Client(base_url=server.url) as client:
        account = logged_in_user(client)
        body = {"name": "rs", "scopes": ["notes:read"], "current_password": PASSWORD}
        created = client.post("/api/v1/auth/tokens", json=body, headers=account.auth).json()
        introspect(client, created["token"])  # cached: Redis alone would answer
        private_redis.stop()
        for token in (account.access_token, account.refresh_token, created["token"]):
            response = introspect(client, token)
            assert response.status_code == 503
            assert "active" not in response.text
        assert introspect(client, account.access_token, auth=("notes-rs", "wrong")).status_code == 503


@pytest.fixture
def counted(
    make_server: Callable[..., LiveServer], single_node_redis_url: str
) -> Iterator[tuple[httpx.Client, RoundTripCounter]]:
    """A server whose Redis traffic passes through a round-trip counter."""
    with counted_client(make_server, single_node_redis_url, introspection_clients=CLIENTS) as counted:
        yield counted


def test_one_redis_round_trip_per_token(counted: tuple[httpx.Client, RoundTripCounter]) -> None:
    client, counter = counted
    account = logged_in_user(client)
    body = {"name": "rs", "scopes": ["notes:read"], "current_password": PASSWORD}
    created = client.post("/api/v1/auth/tokens", json=body, headers=account.auth).json()
    tokens = [account.access_token, account.refresh_token, created["token"]]
    for token in tokens:
        assert introspect(client, token).json()["active"] is True  # a personal token's verdict is cached
    for token in tokens:
        before = counter.count
        assert introspect(client, token).json()["active"] is True
        assert counter.count - before == 1
    before = counter.count
    assert introspect(client, "garbage").json() == {"active": False}
    assert counter.count - before == 1  # the limiter's read still happens


def test_a_wrong_secret_costs_the_one_round_trip_a_right_one_makes(
    counted: tuple[httpx.Client, RoundTripCounter],
) -> None:
    client, counter = counted
    account = logged_in_user(client)
    introspect(client, account.access_token, auth=("notes-rs", "wrong"))
    before = counter.count
    assert introspect(client, account.access_token, auth=("notes-rs", "wrong")).status_code == 401
    # The failure counted on the client's two counters (each its own Redis
    # Cluster slot) in the pipeline that reads the token, and nothing else: no
    # answer is settled for the token.
    assert counter.count - before == 1


def test_once_limited_a_right_and_a_wrong_secret_look_the_same(
    make_server: Callable[..., LiveServer], private_redis: RedisServer
) -> None:
    limits = {"login_max_per_account": 2, "login_max_per_ip": 100}
    with counted_client(make_server, private_redis.url, introspection_clients=CLIENTS, **limits) as (
        client,
        counter,
    ):
        token = logged_in_user(client).access_token
        for guess in ("guess-1", "guess-2"):
            assert introspect(client, token, auth=("notes-rs", guess)).status_code == 401
        answers = []
        for auth in (GOOD, ("notes-rs", "guess-3"), GOOD, ("notes-rs", "guess-4")):
            before = counter.count
            response = introspect(client, token, auth=auth)
            answers.append((response, counter.count - before))
    # Two each: the pipeline, then, as the client's own counter refuses, the
    # address's counter given back for a wrong secret, or the same round trip
    # changing nothing for a right one.
    assert [trips for _, trips in answers] == [2, 2, 2, 2]
    assert all(response.status_code == 429 for response, _ in answers)
    assert all(response.headers["Content-Type"] == "application/problem+json" for response, _ in answers)
    # What may differ: the request id, the date, and the wait, which may tick between two calls.
    bodies = [{**response.json(), "request_id": "", "detail": ""} for response, _ in answers]
    assert all(body == bodies[0] for body in bodies), bodies
    details = [re.sub(r"\d+", "N", response.json()["detail"]) for response, _ in answers]
    assert all(detail == details[0] for detail in details), details
    varying = {"date", "x-request-id", "retry-after"}
    headers = [{k: v for k, v in response.headers.items() if k not in varying} for response, _ in answers]
    assert all(header == headers[0] for header in headers), headers
    waits = [int(response.headers["Retry-After"]) for response, _ in answers]
    assert max(waits) - min(waits) <= 1
