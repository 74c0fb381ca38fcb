"""Every 4xx and 5xx is problem+json, in production mode, and none leaks internals."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import httpx
import pytest
from flask import Flask

from service.resources import AsyncResource
from tests.factories import assert_problem
from tests.support.live import LiveServer

LOGIN = "/api/v1/auth/login"


def test_status_lines_carry_their_reason_phrase(client: httpx.Client) -> None:
    assert client.get("/healthz").reason_phrase == "OK"
    assert client.get("/api/v1/nothing-here").reason_phrase == "Not Found"


def test_unknown_path(client: httpx.Client) -> None:
    assert_problem(client.get("/api/v1/nothing-here"), 404)


def test_wrong_method_names_the_allowed_ones(client: httpx.Client) -> None:
    response = client.delete("/api/v1/auth/login")
    assert_problem(response, 405)
    assert "POST" in response.headers["Allow"]


def test_malformed_json(client: httpx.Client) -> None:
    response = client.post(LOGIN, content=b'{"username": "x",', headers={"Content-Type": "application/json"})
    assert "not valid JSON" in assert_problem(response, 400)["detail"]


def test_body_that_is_not_utf8(client: httpx.Client) -> None:
    response = client.post(
        LOGIN, content=b'{"username": "\xff\xfe"}', headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 400)


def test_json_nested_100000_deep_is_a_400_not_a_500(client: httpx.Client) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    response = client.post(LOGIN, content=deep, headers={"Content-Type": "application/json"})
    assert "nested too deeply" in assert_problem(response, 400)["detail"]


@pytest.mark.parametrize("body", [b"[]", b'"text"', b"42", b"null"])
def test_json_that_is_not_an_object(client: httpx.Client, body: bytes) -> None:
    response = client.post(LOGIN, content=body, headers={"Content-Type": "application/json"})
    problem = assert_problem(response, 422)
    assert problem["errors"] == [{"field": "body", "message": "must be a JSON object"}]


def test_a_body_that_is_not_json(client: httpx.Client) -> None:
    response = client.post(LOGIN, data={"username": "x", "password": "y"})
    assert "application/json" in assert_problem(response, 415)["detail"]


def test_a_declared_oversized_body_is_refused_before_it_is_read(server: LiveServer) -> None:
    # 50 MB announced, almost none sent: the answer comes on the headers alone.
    head = (
        f"POST {LOGIN} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Content-Length: {50 << 20}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head + b"{")
        reply = sock.makefile("rb").read()
    status_line, _, rest = reply.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 413")
    assert b"application/problem+json" in rest


def test_a_streamed_oversized_body_is_refused(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:  # chunked, no Content-Length: 50 MiB if all were read
        for _ in range(50):
            yield b" " * (1 << 20)

    response = client.post(LOGIN, content=chunks(), headers={"Content-Type": "application/json"})
    assert_problem(response, 413)


def test_a_body_at_the_limit_is_read(client: httpx.Client, server: LiveServer) -> None:
    body = b'{"username": "nobody", "password": "' + b"x" * (server.settings.max_body_bytes - 100) + b'"}'
    body = body.ljust(server.settings.max_body_bytes, b" ")
    response = client.post(LOGIN, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 401


class _Exploding(AsyncResource):
    async def get(self) -> None:
        raise ZeroDivisionError("secret internals: SELECT password_hash FROM users")


def _add_failing_routes(app: Flask) -> None:
    from service.resources import Api

    Api(app).add_resource(_Exploding, "/boom-resource", endpoint="boom_resource")

    @app.get("/boom-view")
    def boom_view() -> None:
        raise KeyError("secret internals")


@pytest.fixture
def fragile(make_server: Callable[..., LiveServer]) -> Iterator[httpx.Client]:
    server = make_server(configure=_add_failing_routes)
    assert server.settings.is_production
    with httpx.Client(base_url=server.url) as http:
        yield http


@pytest.mark.parametrize("path", ["/boom-resource", "/boom-view"])
def test_an_unhandled_exception_is_a_500_problem_without_internals(fragile: httpx.Client, path: str) -> None:
    response = fragile.get(path)
    body = assert_problem(response, 500)
    assert "secret" not in response.text
    assert "Traceback" not in response.text
    assert body["detail"] == "The server failed to handle this request."
