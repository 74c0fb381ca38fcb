"""Redis refused, reset mid-request or hanging: 503 in bounded time, then recovery.

Redis is cut for real, by a TCP proxy between the service and the test
session's redis-server; nothing is mocked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from config.settings import Settings
from service.redis import create_redis
from tests.conftest import base_settings
from tests.factories import assert_problem, logged_in_user, register
from tests.support.faults import FaultProxy
from tests.support.live import LiveServer
from tests.support.processes import migrate

ME = "/api/v1/users/me"
LOGIN = "/api/v1/auth/login"
LOGOUT = "/api/v1/auth/logout"
SESSION = "/api/v1/session"
AUTHENTICATED = [
    ("POST", LOGOUT),
    ("POST", "/api/v1/auth/logout-all"),
    ("GET", "/api/v1/auth/sessions"),
    ("DELETE", "/api/v1/auth/sessions/some-session"),
    ("PUT", "/api/v1/users/me/password"),
    ("GET", "/api/v1/notes"),
    ("POST", "/api/v1/notes"),
    ("GET", "/api/v1/notes/1"),
    ("PATCH", "/api/v1/notes/1"),
    ("DELETE", "/api/v1/notes/1"),
]
# Small timeouts keep the suite quick; the client's own timeout is the bound
# that a hung request would break, far above what the settings allow.
TIMEOUTS = {"redis_socket_timeout": 0.5, "redis_pool_timeout": 1.0}
BOUND = httpx.Timeout(15.0)


@pytest.fixture
def redis_proxy(redis_url: str) -> Iterator[FaultProxy]:
    proxy = FaultProxy.for_url(redis_url)
    yield proxy
    proxy.close()


@pytest.fixture
def serve_through_proxy(
    tmp_path,  # type: ignore[no-untyped-def]
    redis_url: str,
    redis_proxy: FaultProxy,
) -> Iterator[Callable[..., LiveServer]]:
    """Start live servers whose Redis traffic goes through ``redis_proxy``; stopped after the test."""
    started: list[LiveServer] = []

    def start(**overrides: object) -> LiveServer:
        database_url = f"sqlite+aiosqlite:///{tmp_path / f'service-{len(started)}.db'}"
        migrate(database_url)
        started.append(
            LiveServer(base_settings(database_url, redis_proxy.url_through(redis_url), **overrides))
        )
        return started[-1]

    yield start
    for live in started:
        live.stop()


@pytest.fixture
def cut_server(serve_through_proxy: Callable[..., LiveServer]) -> LiveServer:
    """A live server whose Redis traffic goes through ``redis_proxy``."""
    return serve_through_proxy(**TIMEOUTS)


@pytest.mark.parametrize("mode", ["refuse", "reset", "hang"])
def test_redis_fault_gives_503_then_heals(cut_server: LiveServer, redis_proxy: FaultProxy, mode: str) -> None:
    with httpx.Client(base_url=cut_server.url, timeout=BOUND) as client:
        account = logged_in_user(client)
        credentials = {"username": account.username, "password": account.password}
        cookie = client.post(SESSION, json=credentials).cookies["session"]
        client.cookies.clear()
        by_cookie = {"Cookie": f"session={cookie}"}
        assert client.get(ME, headers=by_cookie).status_code == 200
        assert client.get(ME, headers=account.auth).status_code == 200

        with redis_proxy.fault(mode):  # type: ignore[arg-type]
            for _ in range(2):  # the first call meets pooled connections, the second new ones
                body = assert_problem(client.get(ME, headers=account.auth), 503)
                assert "redis" in body["detail"]
            # Every path that needs the revocation check, and both logins.
            for method, path in AUTHENTICATED:
                assert_problem(client.request(method, path, headers=account.auth, json={}), 503)
            assert_problem(client.get(ME, headers=by_cookie), 503)
            assert_problem(client.post(LOGIN, json=credentials), 503)
            assert_problem(client.post(SESSION, json=credentials), 503)
            refresh = {"refresh_token": account.refresh_token}
            assert_problem(client.post("/api/v1/auth/refresh", json=refresh), 503)
            ready = assert_problem(client.get("/readyz"), 503)
            assert "redis" in ready["detail"]
            assert "database" not in ready["detail"]
            assert client.get("/healthz").status_code == 200

        # Healed without a restart: the very next requests are served.
        assert client.get(ME, headers=account.auth).status_code == 200
        assert client.get(ME, headers=by_cookie).status_code == 200
        assert client.get("/readyz").status_code == 200
        assert client.post(LOGOUT, headers=account.auth).status_code == 204
        assert client.get(ME, headers=account.auth).status_code == 401
        assert client.post(LOGIN, json=credentials).status_code == 200
    assert cut_server.runtime.opened == 1


def test_a_burst_against_hung_redis_waits_for_the_pool_then_gets_503(
    serve_through_proxy: Callable[..., LiveServer], redis_proxy: FaultProxy
) -> None:
    """More requests than pooled connections: the rest wait REDIS_POOL_TIMEOUT, then 503."""
    live = serve_through_proxy(redis_max_connections=2, **TIMEOUTS)
    with httpx.Client(base_url=live.url, timeout=BOUND) as client:
        account = logged_in_user(client)
    with redis_proxy.fault("hang"), ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(lambda _: httpx.get(f"{live.url}{ME}", headers=account.auth, timeout=BOUND), range(8))
        )
    assert [r.status_code for r in answers] == [503] * 8
    with httpx.Client(base_url=live.url, timeout=BOUND) as client:
        assert client.get(ME, headers=account.auth).status_code == 200


def test_redis_client_takes_every_timeout_from_settings() -> None:
    """Connect, read and pool-wait timeouts all come from settings: none is unbounded."""
    settings = Settings(redis_socket_timeout=1.5, redis_pool_timeout=2.5, redis_max_connections=7)
    client = create_redis(settings)
    pool = client.connection_pool
    assert pool.timeout == 2.5
    assert pool.max_connections == 7
    assert pool.connection_kwargs["socket_timeout"] == 1.5
    assert pool.connection_kwargs["socket_connect_timeout"] == 1.5


def test_a_cookie_request_waiting_on_hung_redis_does_not_stall_the_worker(
    serve_through_proxy: Callable[..., LiveServer], redis_proxy: FaultProxy
) -> None:
    # Flask-Session opens the session in Flask's synchronous layer, which
    # runs on the event loop, so a blocking Redis call there would freeze
    # every request of the worker until it timed out.
    live = serve_through_proxy(redis_socket_timeout=5.0)
    with httpx.Client(base_url=live.url, timeout=BOUND) as client:
        account = register(client)
        body = {"username": account.username, "password": account.password}
        response = client.post("/api/v1/session", json=body)
        assert response.status_code == 200
        cookie = {"Cookie": f"session={response.cookies['session']}"}
        client.cookies.clear()
        with redis_proxy.fault("hang"), ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(client.get, ME, headers=cookie)
            assert client.get("/healthz").status_code == 200
            assert not waiting.done()  # answered while the cookie request still waits on Redis
            assert_problem(waiting.result(), 503)
        assert client.get(ME, headers=cookie).status_code == 200
