"""Requests refused for their framing, over a raw socket: a problem+json answer, then the connection closes.

After a framing we refused, the bytes that follow on the connection cannot be
trusted to start a request (RFC 9112 section 6.1): a request smuggled behind
the refused one must never be answered. Some of these are refused by
hypercorn's h11 before the app, some by the serving layer; both must read alike.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.support.live import LiveServer
from tests.support.served import ServedProcess

LOGIN = "/api/v1/auth/login"
SMUGGLED = b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n"


@dataclass
class Reply:
    status_line: bytes
    headers: dict[str, str]
    body: bytes
    rest: bytes  # whatever came after the first response, before the server closed


def exchange(port: int, data: bytes) -> Reply:
    """Send ``data``, read until the server closes the connection (or 10 s pass: then fail)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):  # a socket.timeout here means the server kept it open
            received += chunk
    head, _, after = received.partition(b"\r\n\r\n")
    status_line, *lines = head.split(b"\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    return Reply(status_line, headers, after[:length], after[length:])


def assert_closing_problem(reply: Reply, status: int, reason: str) -> dict:
    """A problem+json refusal with its reason phrase, the hardening headers, and nothing after it."""
    assert reply.status_line == f"HTTP/1.1 {status} {reason}".encode()
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.headers["connection"] == "close"
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.body.endswith(b"\n")
    problem = json.loads(reply.body)
    assert problem["status"] == status
    assert problem["title"] == reason
    assert problem["request_id"] == reply.headers["x-request-id"]
    assert reply.rest == b"", "the request behind the refused one was answered"
    return problem


def post(headers: str, body: bytes = b"") -> bytes:
    return f"POST {LOGIN} HTTP/1.1\r\nHost: test\r\n{headers}\r\n".encode() + body


# Refused by the serving layer, after h11 parsed the head.
REFUSED_BY_US = {
    "content-length and transfer-encoding": (
        post("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"),
        400,
        "Bad Request",
    ),
    "a declared body over the limit": (
        post(f"Content-Length: {50 << 20}\r\n", b"{"),
        413,
        "Content Too Large",
    ),
    "a path over the limit": (
        f"GET /{'a' * 9000} HTTP/1.1\r\nHost: test\r\n\r\n".encode(),
        414,
        "URI Too Long",
    ),
    "too many headers": (
        ("GET /healthz HTTP/1.1\r\nHost: test\r\n" + "X-A: b\r\n" * 150 + "\r\n").encode(),
        431,
        "Request Header Fields Too Large",
    ),
}
# Refused by hypercorn's h11 before the app is called.
REFUSED_BY_H11 = {
    "a NUL in a header": (b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-A: a\x00b\r\n\r\n", 400, "Bad Request"),
    "no Host on HTTP/1.1": (b"GET /healthz HTTP/1.1\r\n\r\n", 400, "Bad Request"),
    "a negative Content-Length": (post("Content-Length: -1\r\n"), 400, "Bad Request"),
    "two different Content-Lengths": (
        post("Content-Length: 1\r\nContent-Length: 2\r\n", b"ab"),
        400,
        "Bad Request",
    ),
    "a Content-Length that is not a number": (post("Content-Length: 1x\r\n"), 400, "Bad Request"),
    "a transfer coding other than chunked": (post("Transfer-Encoding: gzip\r\n"), 501, "Not Implemented"),
    "a request line that is not HTTP": (b"HELLO\r\n\r\n", 400, "Bad Request"),
    "a head over h11's buffer, still arriving": (
        b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Long: " + b"a" * 40_000,
        431,
        "Request Header Fields Too Large",
    ),
}


@pytest.mark.parametrize("case", REFUSED_BY_US | REFUSED_BY_H11)
def test_a_refused_framing_is_a_problem_and_the_connection_closes(server: LiveServer, case: str) -> None:
    request, status, reason = (REFUSED_BY_US | REFUSED_BY_H11)[case]
    if request.endswith(b"\r\n\r\n") or b"Content-Length" in request:  # a head that is complete
        request += SMUGGLED
    assert_closing_problem(exchange(server.port, request), status, reason)


def test_a_smuggled_request_behind_both_framings_is_never_answered(server: LiveServer) -> None:
    # Read by Content-Length, the body would end after "0\r\n\r\n"; read as
    # chunked, the smuggled request starts right after it. Neither is served.
    smuggling = post(f"Content-Length: {len(SMUGGLED) + 5}\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n")
    reply = exchange(server.port, smuggling + SMUGGLED + SMUGGLED)
    problem = assert_closing_problem(reply, 400, "Bad Request")
    assert "Transfer-Encoding" in problem["detail"]


def test_a_refusal_keeps_the_clients_request_id(server: LiveServer) -> None:
    reply = exchange(server.port, post(f"X-Request-ID: trace-42\r\nContent-Length: {50 << 20}\r\n"))
    assert assert_closing_problem(reply, 413, "Content Too Large")["request_id"] == "trace-42"


def test_an_accepted_request_keeps_the_connection_open_and_has_its_reason_phrase(server: LiveServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(SMUGGLED + SMUGGLED)  # two pipelined requests, both fine
        received = b""
        while received.count(b"HTTP/1.1 200 OK\r\n") < 2:
            chunk = sock.recv(65536)
            assert chunk, "the server closed a connection it had no reason to close"
            received += chunk


def test_the_served_process_refuses_protocol_errors_with_problems(
    serve_process: Callable[..., ServedProcess],
) -> None:
    # serve.py's workers, not the in-process server: the protocol override
    # must be in place wherever asgi.py is served.
    served = serve_process()
    reply = exchange(served.port, b"GET /healthz HTTP/1.1\r\n\r\n" + SMUGGLED)
    assert_closing_problem(reply, 400, "Bad Request")
    assert "server" not in reply.headers  # no product name for scanners (config/hypercorn.py)


def test_refusals_before_the_app_are_counted_like_any_answer(server: LiveServer) -> None:
    def refused(method: str) -> float:
        metrics = exchange(server.port, b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        wanted = f'http_requests_total{{method="{method}",route="<unmatched>",status="400"}} '
        lines = [line for line in metrics.body.decode().splitlines() if line.startswith(wanted)]
        return float(lines[0].split()[-1]) if lines else 0.0

    before = refused("-")
    exchange(server.port, b"GET /healthz HTTP/1.1\r\n\r\n")  # h11: no Host
    assert refused("-") == before + 1
