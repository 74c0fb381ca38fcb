"""The library internals the serving layer overrides are still there, in the versions checked.

Each override lives in one module, which names the version it was read
against. An upgrade fails here first, pointing at the module to re-read,
instead of failing later in production.
"""

from __future__ import annotations

import inspect
from importlib.metadata import version
from types import ModuleType

import h11
import hypercorn.asyncio.run
import pytest
from asgiref.wsgi import WsgiToAsgiInstance
from flask import Flask
from hypercorn.asyncio.tcp_server import TCPServer
from hypercorn.protocol import ProtocolWrapper
from hypercorn.protocol.h11 import H11Protocol
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.sentinel import Sentinel

from service import redis as service_redis
from service.serving import bridge, drain, exchange, hypercorn_h11
from tests.support.processes import ROOT

OWNERS = [
    ("asgiref", exchange, exchange.ASGIREF_CHECKED),
    ("Flask", bridge, bridge.FLASK_CHECKED),
    ("redis", service_redis, service_redis.REDIS_CHECKED),
    ("hypercorn", hypercorn_h11, hypercorn_h11.HYPERCORN_CHECKED),
    ("hypercorn", drain, drain.HYPERCORN_CHECKED),
    ("h11", hypercorn_h11, hypercorn_h11.H11_CHECKED),
]


def _pinned(package: str) -> str:
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        name, _, pin = line.partition("==")
        if name.split("[")[0].strip().lower() == package.lower():
            return pin.strip()
    raise AssertionError(f"{package} is not pinned in requirements.txt")


def _parameters(function: object) -> list[str]:
    return list(inspect.signature(function).parameters)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("package", "owner", "checked"), OWNERS, ids=[f"{o[0]}-{o[1].__name__.rsplit('.', 1)[1]}" for o in OWNERS]
)
def test_each_override_was_checked_against_the_pinned_and_installed_version(
    package: str, owner: ModuleType, checked: str
) -> None:
    assert checked == _pinned(package) == version(package), (
        f"{package} changed: re-read the internals {owner.__name__} overrides, then update its version"
    )
    assert f" {checked}" in (owner.__doc__ or ""), "the docstring names the version checked"


def test_asgiref_builds_the_environ_and_takes_the_response_start_as_we_use_them() -> None:
    assert _parameters(WsgiToAsgiInstance.build_environ) == ["self", "scope", "body"]
    assert _parameters(WsgiToAsgiInstance.__init__)[:2] == ["self", "wsgi_application"]
    instance = WsgiToAsgiInstance(None)
    assert instance.response_started is False
    instance.start_response("201 Created", [("Content-Length", "2"), ("X-A", "b")])
    assert instance.response_start == {
        "type": "http.response.start",
        "status": 201,
        "headers": [(b"content-length", b"2"), (b"x-a", b"b")],
    }
    assert instance.response_content_length == 2
    scope = {"path": "/", "method": "GET", "query_string": b"", "http_version": "1.1"}
    instance.scope = {**scope, "headers": [(b"x-a", b"1")] * (instance.duplicate_header_limit + 1)}
    with pytest.raises(ValueError, match="duplicate headers"):
        instance.build_environ(instance.scope, None)


def test_flask_runs_async_views_through_async_to_sync() -> None:
    assert "async_to_sync" in Flask.ensure_sync.__code__.co_names
    assert _parameters(Flask.async_to_sync) == ["self", "func"]


def test_redis_pools_have_the_methods_and_attributes_the_fair_pool_wraps() -> None:
    for name in ("get_connection", "release"):
        assert inspect.iscoroutinefunction(getattr(BlockingConnectionPool, name)), name
    assert _parameters(BlockingConnectionPool.release) == ["self", "connection"]
    pool = BlockingConnectionPool(max_connections=3, timeout=1.5)
    assert (pool.max_connections, pool.timeout) == (3, 1.5)
    assert "close_connection_pool" in _parameters(Redis.aclose)
    assert {"redis_class", "connection_pool_class"} <= set(_parameters(Sentinel.master_for))
    # The replica settings live on our client under names redis-py does not use.
    assert not hasattr(Redis, "sentinels") and not hasattr(Redis, "replica_acks")


def test_hypercorn_sends_its_refusals_and_status_lines_through_the_methods_we_override() -> None:
    assert _parameters(H11Protocol._send_error_response) == ["self", "status_code"]
    assert _parameters(H11Protocol._send_h11_event) == ["self", "event"]
    # What our re-implementation of _send_h11_event uses in its place.
    assert {"connection", "send", "RawData", "LocalProtocolError"} <= set(
        H11Protocol._send_h11_event.__code__.co_names
    )
    assert "_send_error_response" in H11Protocol._handle_events.__code__.co_names
    assert "_send_h11_event" in H11Protocol.stream_send.__code__.co_names
    # ProtocolWrapper looks the class up as a module global when a connection opens.
    assert "H11Protocol" in ProtocolWrapper.__init__.__code__.co_names


def test_h11_remakes_a_response_from_headers_it_validated() -> None:
    for event_class in (h11.Response, h11.InformationalResponse):
        assert "_parsed" in _parameters(event_class.__init__)
    made = h11.Response(status_code=200, headers=[(b"Content-Type", b"text/plain")])
    again = h11.Response(status_code=200, headers=made.headers, reason=b"OK", _parsed=True)
    assert (again.headers, again.reason) == (made.headers, b"OK")


def test_hypercorn_closes_idle_connections_on_shutdown_where_the_drain_overrides_it() -> None:
    # The idle timer is what wakes on context.terminated; our version drops that wait.
    assert {"terminated", "keep_alive_timeout", "_initiate_server_close"} <= set(
        TCPServer._idle_timeout.__code__.co_names
    )
    assert "_idle_timeout" in TCPServer.run.__code__.co_names
    # run() reads inside the task group that holds the idle timer, and waits for it on leaving.
    assert {"_read_data", "idle_task"} <= set(TCPServer.run.__code__.co_names)
    assert _parameters(TCPServer._read_data) == ["self"]
    # worker_serve's connection callback looks the class up as a module global.
    (callback,) = (
        const
        for const in hypercorn.asyncio.run.worker_serve.__code__.co_consts
        if getattr(const, "co_name", "") == "_server_callback"
    )
    assert "TCPServer" in callback.co_names
    # Shutdown is the one reason _maybe_recycle closes a connection both sides are done with.
    assert {"terminated", "start_next_cycle", "can_read", "_close_stream"} <= set(
        H11Protocol._maybe_recycle.__code__.co_names
    )
    assert "_maybe_recycle" in H11Protocol.stream_send.__code__.co_names
    assert _parameters(H11Protocol.stream_send) == ["self", "event"]
