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
from redis.asyncio.cluster import ClusterNode, ClusterPipeline, PipelineStrategy, RedisCluster
from redis.asyncio.connection import Connection
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import MaxConnectionsError, SlotNotCoveredError

from service import redis as service_redis
from service import redis_cluster
from service.serving import bridge, drain, exchange, hypercorn_h11
from tests.support.processes import ROOT

OWNERS = [
    ("asgiref", exchange, exchange.ASGIREF_CHECKED),
    ("Flask", bridge, bridge.FLASK_CHECKED),
    ("redis", service_redis, service_redis.REDIS_CHECKED),
    ("redis", redis_cluster, redis_cluster.REDIS_CHECKED),
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
    assert _parameters(WsgiToAsgiInstance.__init__) == ["self", "wsgi_application", "duplicate_header_limit"]
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
    # Turned off, as WsgiExchange does: every duplicate reaches the environ.
    unlimited = WsgiToAsgiInstance(None, duplicate_header_limit=None)
    unlimited.scope = instance.scope
    assert unlimited.build_environ(instance.scope, None)["HTTP_X_A"] == ",".join(["1"] * 101)


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


def test_the_cluster_client_has_the_internals_our_cluster_client_and_pipeline_use() -> None:
    assert _parameters(RedisCluster.execute_command) == ["self", "args", "kwargs"]
    assert _parameters(RedisCluster.pipeline) == ["self", "transaction", "shard_hint"]
    assert _parameters(ClusterPipeline.__init__) == ["self", "client", "transaction"]
    assert _parameters(ClusterPipeline.execute) == ["self", "raise_on_error", "allow_redirections"]
    for coroutine in (RedisCluster.initialize, ClusterPipeline.initialize, ClusterPipeline.execute):
        assert inspect.iscoroutinefunction(coroutine), coroutine.__qualname__
    # A redirected command of a pipeline goes through the client's execute_command (our turn).
    assert "execute_command" in PipelineStrategy._execute.__code__.co_names
    client = RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", 1)])
    assert client._initialize is True  # until the first initialize() fetched the slot map
    assert client.pipeline().cluster_client is client
    # Our attributes are names redis-py does not use.
    for name in ("take_turn", "turn", "_turns", "pool_timeout", "replica_acks", "replica_timeout"):
        assert not hasattr(client, name), name


def test_a_cluster_node_hands_out_connections_and_finds_a_slots_node_as_we_use_them() -> None:
    node = ClusterNode("127.0.0.1", 1, max_connections=1)
    connection = node.acquire_connection()
    assert isinstance(connection, Connection)
    with pytest.raises(MaxConnectionsError):  # no waiting: why our client bounds its turns
        node.acquire_connection()
    node.release(connection)
    assert node.acquire_connection() is connection
    assert connection.pack_commands([("INCR", "k"), ("WAIT", 1, 10)]) == [
        b"*2\r\n$4\r\nINCR\r\n$1\r\nk\r\n*3\r\n$4\r\nWAIT\r\n$1\r\n1\r\n$2\r\n10\r\n"
    ]
    for name in ("send_packed_command", "read_response", "disconnect"):
        assert inspect.iscoroutinefunction(getattr(Connection, name)), name
    nodes = RedisCluster(startup_nodes=[node]).nodes_manager
    assert _parameters(nodes.get_node_from_slot)[:1] == ["slot"]
    # A slot with no node is SlotNotCoveredError, which picking a fence key skips.
    nodes.slots_cache = {5: [node], 6: []}
    assert nodes.get_node_from_slot(5) is node
    with pytest.raises(SlotNotCoveredError):
        nodes.get_node_from_slot(6)


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


def test_hypercorn_uses_its_idle_task_and_read_loop_as_the_drain_replaces_them() -> None:
    # The idle timer is used through restart(task_group, action) and stop() alone.
    assert "idle_task" in TCPServer.__init__.__code__.co_names
    for method in (TCPServer.run, TCPServer.protocol_send):
        assert {"idle_task", "restart"} <= set(method.__code__.co_names)
    assert {"idle_task", "stop"} <= set(TCPServer._close.__code__.co_names)
    assert {"idle_task", "stop"} <= set(TCPServer.protocol_send.__code__.co_names)
    assert _parameters(TCPServer.__init__) == [
        "self",
        "app",
        "loop",
        "config",
        "context",
        "state",
        "reader",
        "writer",
    ]
    # Our _read_data is hypercorn's loop with another timeout: it names nothing more.
    ours = set(drain.DrainingTCPServer._read_data.__code__.co_names)
    assert set(TCPServer._read_data.__code__.co_names) - {"wait_for"} <= ours | {"asyncio", "TimeoutError"}
