"""Brute-force limits: per account and per client IP, shared by every instance through Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import httpx

from service.auth import limits
from service.redis import create_redis
from tests.conftest import base_settings
from tests.factories import PASSWORD, logged_in_user, register
from tests.support.live import LiveServer
from tests.support.processes import RedisServer
from tests.support.round_trips import RoundTripCounter

LOGIN = "/api/v1/auth/login"
WRONG = "not the password"


def client_from(server: LiveServer, ip: str) -> httpx.Client:
    """A client whose connections come from ``ip`` (any 127.x address reaches the server)."""
    return httpx.Client(base_url=server.url, transport=httpx.HTTPTransport(local_address=ip), timeout=30)


def attempt(client: httpx.Client, username: str, password: str = WRONG) -> httpx.Response:
    return client.post(LOGIN, json={"username": username, "password": password})


def limited_server(make_server: Callable[..., LiveServer], redis: RedisServer, **limits: int) -> LiveServer:
    settings = {"login_max_per_account": 3, "login_max_per_ip": 6, "login_window": 600, **limits}
    return make_server(redis_url=redis.url, **settings)


def assert_too_many(response: httpx.Response, window: int) -> None:
    assert response.status_code == 429
    assert response.headers["Content-Type"] == "application/problem+json"
    assert 0 < int(response.headers["Retry-After"]) <= window
    body = response.json()
    assert body["status"] == 429
    assert body["title"] == "Too Many Requests"


def test_failures_on_an_account_beyond_the_limit_get_429(
    make_server: Callable[..., LiveServer], private_redis: RedisServer
) -> None:
    server = limited_server(make_server, private_redis)
    with client_from(server, "127.0.0.2") as client:
        account = register(client)
        for _ in range(3):
            assert attempt(client, account.username).status_code == 401
        assert_too_many(attempt(client, account.username), 600)
        # Blocked means blocked: not even the right password is checked now.
        assert_too_many(attempt(client, account.username, PASSWORD), 600)


def test_hammering_one_account_does_not_block_another_account_from_another_ip(
    make_server: Callable[..., LiveServer], private_redis: RedisServer
) -> None:
    server = limited_server(make_server, private_redis)
    with client_from(server, "127.0.0.2") as attacker, client_from(server, "127.0.0.3") as user:
        victim, bystander = register(user), register(user)
        statuses = [attempt(attacker, victim.username).status_code for _ in range(20)]
        assert statuses[:3] == [401] * 3
        assert set(statuses[3:]) == {429}
        assert attempt(user, bystander.username, PASSWORD).status_code == 200


def test_one_ip_guessing_across_accounts_hits_the_ip_limit(
    make_server: Callable[..., LiveServer], private_redis: RedisServer
) -> None:
    server = limited_server(make_server, private_redis)
    with client_from(server, "127.0.0.4") as attacker, client_from(server, "127.0.0.5") as user:
        accounts = [register(user) for _ in range(4)]
        statuses = [attempt(attacker, a.username).status_code for a in accounts for _ in range(2)]
        assert statuses[:6] == [401] * 6
        assert set(statuses[6:]) == {429}
        assert_too_many(attempt(attacker, accounts[3].username, PASSWORD), 600)
        # The same accounts from elsewhere: the per-account budgets (2 of 3 used) still allow this.
        assert attempt(user, accounts[0].username, PASSWORD).status_code == 200


def test_successful_logins_are_not_counted(
    make_server: Callable[..., LiveServer], private_redis: RedisServer
) -> None:
    server = limited_server(make_server, private_redis)
    with client_from(server, "127.0.0.6") as client:
        account = register(client)
        for _ in range(10):
            assert attempt(client, account.username, PASSWORD).status_code == 200
        assert attempt(client, account.username).status_code == 401


def test_concurrent_guesses_cannot_exceed_the_limit(
    make_server: Callable[..., LiveServer], private_redis: RedisServer
) -> None:
    server = limited_server(make_server, private_redis, login_max_per_account=5, login_max_per_ip=1000)
    with httpx.Client(base_url=server.url) as client:
        account = register(client)

    async def guess_together() -> list[int]:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
            body = {"username": account.username, "password": WRONG}
            responses = await asyncio.gather(*(http.post(LOGIN, json=body) for _ in range(30)))
        return [r.status_code for r in responses]

    statuses = asyncio.run(guess_together())
    assert statuses.count(401) == 5
    assert statuses.count(429) == 25


def test_an_attempt_is_counted_for_the_account_and_the_address_in_one_round_trip(
    private_redis: RedisServer,
) -> None:
    counter = RoundTripCounter(private_redis.url)
    account, address = f"auth:limit:account:{uuid.uuid4().hex}", f"auth:limit:ip:{uuid.uuid4().hex}"

    async def count_three() -> list[tuple[int, int]]:
        redis = create_redis(base_settings("sqlite+aiosqlite:///:memory:", counter.url))
        try:
            await redis.ping()  # the connection's own handshake is not the limiter's
            costs = []
            for _ in range(3):
                before = counter.count
                wait = await limits.take(redis, 600, {account: 2, address: 100})
                costs.append((wait, counter.count - before))
            return costs
        finally:
            await redis.aclose()

    try:
        costs = asyncio.run(count_three())
    finally:
        counter.close()
    # Two allowed, then refused (and taken back from the address): one round trip each, two for the refusal.
    assert [wait > 0 for wait, _ in costs] == [False, False, True]
    assert [cost for _, cost in costs] == [1, 1, 2]
    assert (private_redis.client().get(account), private_redis.client().get(address)) == ("2", "2")


def test_the_count_is_shared_by_every_instance(
    make_server: Callable[..., LiveServer], private_redis: RedisServer, database_url: str
) -> None:
    one = limited_server(make_server, private_redis, database_url=database_url)
    two = make_server(
        database_url,
        redis_url=private_redis.url,
        secret_key=one.settings.secret_key,
        login_max_per_account=3,
        login_max_per_ip=6,
    )
    with client_from(one, "127.0.0.7") as a, client_from(two, "127.0.0.7") as b:
        account = register(a)
        assert attempt(a, account.username).status_code == 401
        assert attempt(b, account.username).status_code == 401
        assert attempt(a, account.username).status_code == 401
        assert attempt(b, account.username).status_code == 429


def test_wrong_current_passwords_are_limited_too(
    make_server: Callable[..., LiveServer], private_redis: RedisServer
) -> None:
    server = limited_server(make_server, private_redis)
    with client_from(server, "127.0.0.8") as client:
        account = logged_in_user(client)
        change = {"current_password": WRONG, "new_password": "a whole new password"}
        statuses = [
            client.put("/api/v1/users/me/password", json=change, headers=account.auth).status_code
            for _ in range(4)
        ]
        assert statuses == [403, 403, 403, 429]
