"""The concurrency path over real HTTP: one loop, one engine, one Redis pool per process."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import redis

from tests.factories import PASSWORD, logged_in_user, register
from tests.support.live import LiveServer

ME = "/api/v1/users/me"


async def _burst(url: str, headers: dict[str, str], count: int) -> list[int]:
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:
        responses = await asyncio.gather(*(http.get(ME, headers=headers) for _ in range(count)))
    return [r.status_code for r in responses]


def test_hundreds_of_concurrent_authenticated_requests_share_one_engine_and_pool(
    make_server: Callable[..., LiveServer],
) -> None:
    # Pools much smaller than the burst: requests must queue for a connection,
    # not fail (redis-py's default asyncio pool raises MaxConnectionsError).
    # Generous pool timeouts: on a loaded machine the queue may be slow, and
    # this test is about sharing the pools, not about how long a wait may be.
    server = make_server(
        redis_max_connections=8,
        redis_pool_timeout=60.0,
        db_pool_size=4,
        db_max_overflow=0,
        db_pool_timeout=60.0,
    )
    with httpx.Client(base_url=server.url) as client:
        account = logged_in_user(client)
    engine = server.runtime._db.engine
    redis_pool = server.runtime._redis.connection_pool

    statuses = asyncio.run(_burst(server.url, account.auth, 500))

    assert statuses == [200] * 500
    assert server.runtime.opened == 1  # the pools were opened once, by lifespan
    assert server.runtime._db.engine is engine
    assert server.runtime._redis.connection_pool is redis_pool
    assert len(redis_pool._in_use_connections) + len(redis_pool._available_connections) <= 8
    assert engine.pool.checkedout() == 0
    assert engine.pool.size() == 4


def test_bcrypt_does_not_stall_other_requests(make_server: Callable[..., LiveServer]) -> None:
    # A slow hash (cost 14, about a second) must not block the loop: a health check
    # sent after the login starts is answered before the login finishes.
    server = make_server(bcrypt_rounds=14)

    async def race() -> list[str]:
        finished: list[str] = []
        async with httpx.AsyncClient(base_url=server.url, timeout=120) as http:

            async def login() -> None:
                await http.post("/api/v1/auth/login", json={"username": "nobody", "password": PASSWORD})
                finished.append("login")

            async def health() -> None:
                await asyncio.sleep(0.2)  # let the login reach bcrypt first
                assert (await http.get("/healthz")).status_code == 200
                finished.append("health")

            await asyncio.gather(login(), health())
        return finished

    assert asyncio.run(race()) == ["health", "login"]


def test_the_async_views_run_on_the_servers_loop(make_server: Callable[..., LiveServer]) -> None:
    server = make_server()
    with httpx.Client(base_url=server.url) as client:
        register(client)
    # The runtime refuses any other loop, so a served request proves the view
    # ran on the loop that lifespan opened the pools on: hypercorn's.
    assert server.runtime.loop is server.loop


def _commands(store: redis.Redis) -> dict[str, int]:
    stats = store.info("commandstats")
    return {name.removeprefix("cmdstat_"): value["calls"] for name, value in stats.items()}


def test_an_authenticated_request_costs_one_redis_command(
    make_server: Callable[..., LiveServer], redis_url: str
) -> None:
    server = make_server()
    store = redis.Redis.from_url(redis_url)
    with httpx.Client(base_url=server.url) as client:
        account = logged_in_user(client)
        before = _commands(store)
        for _ in range(25):
            assert client.get(ME, headers=account.auth).status_code == 200
        after = _commands(store)
    spent = {name: after[name] - before.get(name, 0) for name in after if after[name] != before.get(name, 0)}
    spent.pop("info", None)  # our own INFO call
    spent.pop("ping", None)  # redis-py's periodic health check of an idle connection
    # One round trip each: EVALSHA of the check-and-mark-seen script. Redis
    # also counts the HGET and TIME the script runs, but inside the server; no
    # HSET: the login marked the session seen within SESSION_SEEN_INTERVAL.
    assert spent == {"evalsha": 25, "hget": 25, "time": 25}


def test_pools_are_closed_when_the_server_stops(make_server: Callable[..., LiveServer]) -> None:
    server = make_server()
    assert httpx.get(f"{server.url}/readyz").status_code == 200  # opens a connection to each
    with httpx.Client(base_url=server.url) as client:
        logged_in_user(client)  # a write: SQLite reads have a pool of their own
    db_pools = [server.runtime._db.engine.pool]
    if server.runtime._db._inline is not None:
        db_pools.append(server.runtime._db._inline.pool)
    redis_pool = server.runtime._redis.connection_pool
    assert all(pool.checkedin() + pool.checkedout() >= 1 for pool in db_pools)
    assert any(c.is_connected for c in redis_pool._available_connections)

    server.stop()

    assert server.runtime.loop is None
    assert all(pool.checkedin() == pool.checkedout() == 0 for pool in db_pools)
    assert not any(c.is_connected for c in redis_pool._available_connections)
