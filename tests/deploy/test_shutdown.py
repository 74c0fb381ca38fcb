"""SIGTERM during a burst: every accepted request is answered, the pools close, exit 0."""

from __future__ import annotations

import json
import selectors
import signal
import socket
from collections.abc import Callable

import httpx
import pytest

from tests.factories import register
from tests.support.served import ServedProcess

LOGIN = "/api/v1/auth/login"


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_during_a_burst_answers_every_accepted_request(
    serve_process: Callable[..., ServedProcess], workers: int
) -> None:
    # A bcrypt cost that makes each login take a while, and two hashing
    # threads per worker: most of the burst is still in flight at SIGTERM.
    # The burst logs in one account more often at once than the brute-force
    # limit allows in flight, so the limit is raised.
    served = serve_process(workers=workers, bcrypt_rounds=10, graceful_timeout=60, login_max_per_account=100)
    with httpx.Client(base_url=served.url, timeout=60) as client:
        account = register(client)
    body = json.dumps({"username": account.username, "password": account.password}).encode()
    request = (
        f"POST {LOGIN} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body

    # The whole burst is sent before anything else happens ...
    burst = [socket.create_connection(("127.0.0.1", served.port), timeout=60) for _ in range(8 * workers)]
    for sock in burst:
        sock.sendall(request)
    # ... and once one login is answered, the server has long since accepted
    # every connection of it; most logins are still queued behind bcrypt.
    with selectors.DefaultSelector() as selector:
        for sock in burst:
            selector.register(sock, selectors.EVENT_READ)
        first = selector.select(timeout=60)
    assert first
    assert served.process is not None
    served.process.send_signal(signal.SIGTERM)  # as an orchestrator stops a container
    replies = [_read_all(sock) for sock in burst]

    assert [reply[:12] for reply in replies] == [b"HTTP/1.1 200"] * len(burst)
    assert len(first) < len(burst)  # or nothing was in flight at SIGTERM and the test proved nothing
    assert served.process.wait(60) == 0
    lines = [json.loads(line) for line in served.logs().splitlines() if line.startswith("{")]
    assert [line["message"] for line in lines].count("pools closed") == workers


def _read_all(sock: socket.socket) -> bytes:
    with sock:
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return reply
