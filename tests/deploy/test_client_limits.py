"""Clients that misbehave, against hypercorn as `make run` starts it (config/hypercorn.py).

Slow and idle clients are cut off by hypercorn's read and keep-alive timeouts
and cannot pin the threads that run requests; absurd request heads and bodies
get a 4xx.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Callable

import httpx
import pytest

from tests.factories import logged_in_user
from tests.support.served import ServedProcess

LOGIN = "/api/v1/auth/login"
ME = "/api/v1/users/me"


def exchange(served: ServedProcess, request: bytes) -> bytes:
    """Send raw bytes on a fresh connection; everything the server answers before closing."""
    with socket.create_connection(("127.0.0.1", served.port), timeout=15) as sock:
        sock.sendall(request)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return reply


def status_of(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1])


@pytest.fixture
def served(serve_process: Callable[..., ServedProcess]) -> ServedProcess:
    return serve_process()


@pytest.mark.parametrize(
    ("target", "headers", "status"),
    [
        ("/" + "a" * 10_000, "", 414),
        ("/healthz?" + "q=1&" * 3_000, "", 414),
        ("/healthz", "".join(f"X-Filler-{i}: 1\r\n" for i in range(300)), 431),
        ("/healthz", "X-Big: " + "b" * 20_000 + "\r\n", 431),
    ],
    ids=["long-path", "long-query", "many-headers", "big-header"],
)
def test_oversized_request_heads_get_a_problem(
    served: ServedProcess, target: str, headers: str, status: int
) -> None:
    reply = exchange(
        served, f"GET {target} HTTP/1.1\r\nHost: t\r\n{headers}Connection: close\r\n\r\n".encode()
    )
    head, _, body = reply.partition(b"\r\n\r\n")
    assert status_of(reply) == status
    # h11 itself answers 431 with no body when a head arrives incomplete past
    # its buffer limit; a head read in one go reaches the service's own check.
    if body:
        assert b"application/problem+json" in head.lower()
        assert json.loads(body)["status"] == status


@pytest.mark.parametrize(
    "head",
    [
        "GET /" + "a" * 200_000 + " HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET /healthz?" + "q" * 1_000_000 + " HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + "b" * 1_000_000 + "\r\n\r\n",
    ],
    ids=["200k-path", "1m-query", "1m-header"],
)
def test_absurd_request_heads_are_refused_without_being_buffered(served: ServedProcess, head: str) -> None:
    try:
        reply = exchange(served, head.encode())
    except ConnectionResetError:
        return  # refused while we were still sending: fine, nothing was buffered
    assert 400 <= status_of(reply) < 500


@pytest.mark.parametrize(
    "body",
    [b"[" * 50_000 + b"]" * 50_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000],
    ids=["arrays", "objects"],
)
def test_json_nested_thousands_deep_is_a_4xx(served: ServedProcess, body: bytes) -> None:
    response = httpx.post(
        f"{served.url}{LOGIN}", content=body, headers={"Content-Type": "application/json"}, timeout=15
    )
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"


def test_slow_and_idle_clients_are_cut_off_and_cannot_pin_the_workers(
    serve_process: Callable[..., ServedProcess],
) -> None:
    """Far more trickling connections than request threads; a normal client is still served."""
    served = serve_process(read_timeout=2, keep_alive_timeout=2)
    body_start = (
        f"POST {LOGIN} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000\r\n\r\n{"
    ).encode()
    kinds = {"silent": b"", "trickling-head": b"GET /healthz HTTP/1.1\r\nHo", "stalled-body": body_start}
    slow: list[tuple[str, socket.socket]] = []
    for kind, first in kinds.items():
        for _ in range(30):
            sock = socket.create_connection(("127.0.0.1", served.port), timeout=15)
            sock.sendall(first)
            slow.append((kind, sock))
    try:
        with httpx.Client(base_url=served.url, timeout=15) as client:
            account = logged_in_user(client)
            for _ in range(5):
                for kind, sock in slow:
                    if kind == "trickling-head":
                        _send_quietly(sock, b"s")
                assert client.get(ME, headers=account.auth).status_code == 200
                assert client.get("/readyz").status_code == 200
        # Every slow connection is closed by the server, without an answer.
        for kind, sock in slow:
            assert _read_until_closed(sock) == b"", kind
    finally:
        for _, sock in slow:
            sock.close()


def test_a_keep_alive_connection_is_closed_once_idle_for_the_keep_alive_timeout(
    serve_process: Callable[..., ServedProcess],
) -> None:
    served = serve_process(keep_alive_timeout=2)
    sock = socket.create_connection(("127.0.0.1", served.port), timeout=15)
    try:
        for _ in range(3):  # each answer restarts the idle timer; each request stops it
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            head = sock.recv(65536)
            assert head.startswith(b"HTTP/1.1 200"), head
            time.sleep(1)  # idle, but not for long enough
        opened = time.monotonic()
        assert _read_until_closed(sock) == b""
        assert 0.5 < time.monotonic() - opened < 6
    finally:
        sock.close()


def _send_quietly(sock: socket.socket, data: bytes) -> None:
    with contextlib.suppress(OSError):  # already cut off by the server
        sock.sendall(data)


def _read_until_closed(sock: socket.socket) -> bytes:
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received
