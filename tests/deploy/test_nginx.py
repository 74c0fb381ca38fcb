"""The real nginx with config/nginx.conf in front of two instances (TRUSTED_PROXIES=1)."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from flask import Flask, request

from tests.factories import logged_in_user
from tests.support.live import LiveServer
from tests.support.nginx import Nginx
from tests.support.processes import RedisServer

ME = "/api/v1/users/me"
LOGOUT = "/api/v1/auth/logout"
# The client connects from another loopback address than nginx does, so the
# address the app sees tells the two apart.
CLIENT_ADDRESS = "127.0.0.2"


def _add_address_route(app: Flask) -> None:
    @app.get("/test/client-address")
    def client_address() -> Any:
        return {"ip": request.remote_addr, "scheme": request.scheme}


@dataclass
class Fronted:
    nginx: Nginx
    instances: list[LiveServer]

    def client(self) -> httpx.Client:
        transport = httpx.HTTPTransport(local_address=CLIENT_ADDRESS)
        return httpx.Client(base_url=self.nginx.url, transport=transport, timeout=30)


@pytest.fixture
def fronted(
    make_server: Callable[..., LiveServer],
    make_nginx: Callable[[list[str]], Nginx],
    database_url: str,
    private_redis: RedisServer,
) -> Iterator[Fronted]:
    # A Redis of its own: the fresh database numbers users from 1 again, and a
    # shared Redis may still list an earlier test's user 1's sessions.
    shared = {"redis_url": private_redis.url, "trusted_proxies": 1, "configure": _add_address_route}
    one = make_server(database_url, **shared)
    two = make_server(database_url, secret_key=one.settings.secret_key, **shared)
    proxy = make_nginx([f"127.0.0.1:{one.port}", f"127.0.0.1:{two.port}"])
    yield Fronted(proxy, [one, two])


def test_traffic_through_nginx_reaches_both_instances_and_logout_holds_on_both(fronted: Fronted) -> None:
    with fronted.client() as client:
        account = logged_in_user(client)
        for _ in range(10):
            assert client.get(ME, headers=account.auth).status_code == 200
        assert client.post(LOGOUT, headers=account.auth).status_code == 204
        for _ in range(4):
            assert client.get(ME, headers=account.auth).status_code == 401
    served_by = set(re.findall(r"upstream=127\.0\.0\.1:(\d+)", fronted.nginx.access_log()))
    assert served_by == {str(instance.port) for instance in fronted.instances}


def test_the_app_sees_the_real_client_address_and_a_client_cannot_spoof_it(fronted: Fronted) -> None:
    with fronted.client() as client:
        plain = client.get("/test/client-address").json()
        spoofed = client.get("/test/client-address", headers={"X-Forwarded-For": "203.0.113.7"}).json()
    assert plain == {"ip": CLIENT_ADDRESS, "scheme": "http"}
    assert spoofed["ip"] == CLIENT_ADDRESS


def test_session_records_see_the_client_address_through_nginx(fronted: Fronted) -> None:
    with fronted.client() as client:
        account = logged_in_user(client)
        listed = client.get(
            "/api/v1/auth/sessions", headers=account.auth | {"X-Forwarded-For": "203.0.113.7"}
        )
        if listed.status_code == 404:
            pytest.skip("GET /api/v1/auth/sessions is not on this branch yet: issue 3")
        assert listed.status_code == 200
        assert {session["ip"] for session in listed.json()} == {CLIENT_ADDRESS}, listed.json()


def test_a_body_over_the_limit_is_refused_by_nginx_as_problem_json(fronted: Fronted) -> None:
    with fronted.client() as client:
        response = client.post(
            "/api/v1/auth/login",
            content=b"x" * (2 * 1024 * 1024),
            headers={"Content-Type": "application/json"},
        )
    assert response.status_code == 413
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 413


def test_a_stopped_instance_is_skipped_and_none_left_is_a_502_problem(fronted: Fronted) -> None:
    first, second = fronted.instances
    first.stop()
    with fronted.client() as client:
        for _ in range(4):
            assert client.get("/readyz").status_code == 200
        assert (
            client.post(
                "/api/v1/auth/register", json={"username": "after_stop", "password": "long enough pw"}
            ).status_code
            == 201
        )
        second.stop()
        response = client.get("/readyz")
    assert response.status_code == 502
    assert response.headers["Content-Type"] == "application/problem+json"


def test_metrics_are_not_served_to_the_public(fronted: Fronted) -> None:
    with fronted.client() as client:
        response = client.get("/metrics")
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"
    assert httpx.get(f"{fronted.instances[0].url}/metrics").status_code == 200  # for the scraper


HARDENING = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def _assert_nginx_problem(reply: bytes, status: int) -> None:
    """A raw reply: nginx's own problem+json with the hardening headers, and nothing after it."""
    head, _, body = reply.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].startswith(f"HTTP/1.1 {status} "), lines[0]
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    assert headers["content-type"] == "application/problem+json"
    for name, value in HARDENING.items():
        assert headers[name.lower()] == value
    assert headers["cache-control"] == "no-store"
    assert body.endswith(b"}\n") and body.count(b"HTTP/1.1") == 0  # one answer, then closed
    assert json.loads(body)["request_id"] == headers["x-request-id"]


def _raw(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-A: a\x00b\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\n\r\n",
        b"POST /healthz HTTP/1.1\r\nHost: test\r\nContent-Length: -1\r\n\r\n",
        b"POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\n",
    ],
    ids=["nul-in-header", "no-host", "negative-length", "length-and-chunked"],
)
def test_requests_nginx_refuses_are_problems_and_close_the_connection(
    fronted: Fronted, request_bytes: bytes
) -> None:
    smuggled = b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n"
    _assert_nginx_problem(_raw(fronted.nginx.port, request_bytes + smuggled), 400)


def test_answers_through_nginx_carry_the_hardening_headers_once(fronted: Fronted) -> None:
    with fronted.client() as client:
        responses = [
            client.get("/healthz"),
            client.get("/api/v1/nothing-here"),
            client.get("/metrics"),
            client.post(
                "/api/v1/auth/login", content=b"x" * (2 << 20), headers={"Content-Type": "application/json"}
            ),
        ]
    for response in responses:
        for name, value in HARDENING.items():
            assert response.headers.get_list(name) == [value], (response.url, name)
        assert response.headers.get_list("Cache-Control") == ["no-store"]
        assert len(response.headers.get_list("X-Request-ID")) == 1
