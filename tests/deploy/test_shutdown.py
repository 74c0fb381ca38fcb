"""SIGTERM, SIGINT and bursts of both: every accepted request is answered, the pools close, exit 0."""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import time
from collections.abc import Callable

import httpx
import pytest

from tests.factories import PASSWORD, random_username, register
from tests.support.processes import free_port, wait_until
from tests.support.served import ServedProcess, run_serve

LOGIN = "/api/v1/auth/login"
REGISTER = "/api/v1/auth/register"
TERM, INT = signal.SIGTERM, signal.SIGINT
# Signal patterns that deadlocked the master when its handler itself set the
# workers' shared event: a signal arriving inside the handler (about 0.1 ms
# after the one before it, here) waited forever for the lock the first held.
GAP = 0.0001
PATTERNS = {
    "two-0.1ms-apart": [TERM, TERM],
    "burst-of-20": [TERM] * 20,
    "term-and-int-mixed": [TERM, INT] * 10,
}


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_during_a_burst_answers_every_accepted_request(
    serve_process: Callable[..., ServedProcess], workers: int
) -> None:
    served = _serve_slow_logins(serve_process, workers)
    burst, first = _logins_in_flight(served, 8 * workers)
    assert served.process is not None
    served.process.send_signal(signal.SIGTERM)  # as an orchestrator stops a container
    replies = [_read_all(sock) for sock in burst]

    assert [reply[:12] for reply in replies] == [b"HTTP/1.1 200"] * len(burst)
    assert len(first) < len(burst)  # or nothing was in flight at SIGTERM and the test proved nothing
    assert served.process.wait(60) == 0
    assert _pools_closed(served) == workers


@pytest.mark.parametrize("target", ["master", "group"])
@pytest.mark.parametrize("pattern", list(PATTERNS))
def test_a_burst_of_signals_stops_the_server_gracefully(
    serve_process: Callable[..., ServedProcess], pattern: str, target: str
) -> None:
    served = serve_process(workers=2, graceful_timeout=60)
    wait_until(lambda: served.logs().count("Running on http") == 2, timeout=30)
    assert served.process is not None
    master = served.process.pid
    workers = _children(master)
    # Requests in flight that keep no CPU busy (a busy machine would answer
    # the signals late, all at once): each body waits for its last byte.
    pending = [_register_all_but_the_last_byte(served.port) for _ in range(6)]
    # "group": as a terminal's Ctrl-C, or an init system stopping the whole
    # process group, reaches the workers too.
    send = os.kill if target == "master" else os.killpg
    for signum in PATTERNS[pattern]:
        send(master, signum)
        _pause(GAP)
    time.sleep(0.5)  # long enough for the workers to see the stop
    for sock, last in pending:
        sock.sendall(last)
    replies = [_read_all(sock) for sock, _ in pending]

    # The whole replies on failure: a 503 names its dependency (seen once under load).
    assert [reply[:12] for reply in replies] == [b"HTTP/1.1 201"] * len(pending), replies
    assert served.process.wait(60) == 0, served.logs()
    assert _pools_closed(served) == 2  # each worker stopped gracefully, none was killed
    # Every process is gone: the workers, and anything else in the group.
    wait_until(lambda: not _group_alive(master), timeout=10)
    assert not any(os.path.exists(f"/proc/{pid}") for pid in workers)


def test_a_keep_alive_connection_idle_at_sigterm_still_gets_its_next_request_answered(
    serve_process: Callable[..., ServedProcess],
) -> None:
    # As nginx holds upstream connections open: one used a moment ago, one never used.
    served = serve_process(keep_alive_timeout=5)
    used = socket.create_connection(("127.0.0.1", served.port), timeout=30)
    used.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    assert _read_head(used).startswith(b"HTTP/1.1 200")
    unused = socket.create_connection(("127.0.0.1", served.port), timeout=30)
    assert served.process is not None
    served.process.send_signal(signal.SIGTERM)
    stopped = time.monotonic()
    # New connections are refused at once (a proxy retries those elsewhere, even a POST) ...
    wait_until(lambda: not _accepts(served.port), timeout=10)
    body = json.dumps({"username": random_username(), "password": PASSWORD}).encode()
    used.sendall(
        f"POST {REGISTER} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    reply = _read_all(used)  # ... and the request on the open one is served, then the connection ends.

    head = reply.partition(b"\r\n\r\n")[0].lower()
    assert head.startswith(b"http/1.1 201"), reply
    assert b"\r\nconnection: close" in head, reply
    # The unused one is closed once idle for KEEP_ALIVE_TIMEOUT, and the server stops gracefully.
    assert _read_all(unused) == b""
    assert served.process.wait(30) == 0
    assert 4 < time.monotonic() - stopped < 10
    assert _pools_closed(served) == 1


def test_connections_their_clients_closed_do_not_hold_up_the_stop(
    serve_process: Callable[..., ServedProcess],
) -> None:
    served = serve_process(keep_alive_timeout=20, graceful_timeout=30)
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", served.port), timeout=30) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            assert _read_head(sock).startswith(b"HTTP/1.1 200")
    assert served.process is not None
    stopped = time.monotonic()
    served.process.send_signal(signal.SIGTERM)

    assert served.process.wait(30) == 0
    assert time.monotonic() - stopped < 5  # not the 20 s an open idle connection may take
    assert _pools_closed(served) == 1


def test_a_graceful_timeout_shorter_than_the_keep_alive_timeout_is_refused_at_start() -> None:
    # A stop would end the idle connections before nginx is done with them.
    result = run_serve({"PORT": str(free_port()), "GRACEFUL_TIMEOUT": "3", "KEEP_ALIVE_TIMEOUT": "5"})
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()
    assert "GRACEFUL_TIMEOUT must be at least KEEP_ALIVE_TIMEOUT" in json.loads(line)["message"], line


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return False
    return True


def _register_all_but_the_last_byte(port: int) -> tuple[socket.socket, bytes]:
    """A connection the server has accepted, with a registration sent but for its last byte."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    assert _read_head(sock).startswith(b"HTTP/1.1 200")
    body = json.dumps({"username": random_username(), "password": PASSWORD}).encode()
    sock.sendall(
        f"POST {REGISTER} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body[:-1]
    )
    return sock, body[-1:]


def _read_head(sock: socket.socket) -> bytes:
    """One response's status line and headers, and its body (Content-Length) read and dropped."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(rest) < length:
        rest += sock.recv(4096)
    return head


def _serve_slow_logins(serve_process: Callable[..., ServedProcess], workers: int) -> ServedProcess:
    # A bcrypt cost that makes each login take a while, and two hashing
    # threads per worker: most of the burst is still in flight at the signal.
    # The burst logs in one account more often at once than the brute-force
    # limit allows in flight, so the limit is raised.
    served = serve_process(workers=workers, bcrypt_rounds=10, graceful_timeout=60, login_max_per_account=100)
    # It serves once one worker listens; a signal must find both started.
    wait_until(lambda: served.logs().count("Running on http") == workers, timeout=30)
    return served


def _logins_in_flight(served: ServedProcess, count: int) -> tuple[list[socket.socket], list[object]]:
    """``count`` logins sent at once, returned once the first is answered (and the rest are accepted)."""
    with httpx.Client(base_url=served.url, timeout=60) as client:
        account = register(client)
    body = json.dumps({"username": account.username, "password": account.password}).encode()
    request = (
        f"POST {LOGIN} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    # The whole burst is sent before anything else happens ...
    burst = [socket.create_connection(("127.0.0.1", served.port), timeout=60) for _ in range(count)]
    for sock in burst:
        sock.sendall(request)
    # ... and once one login is answered, the server has long since accepted
    # every connection of it; most logins are still queued behind bcrypt.
    with selectors.DefaultSelector() as selector:
        for sock in burst:
            selector.register(sock, selectors.EVENT_READ)
        first = selector.select(timeout=60)
    assert first
    return burst, list(first)


def _pause(seconds: float) -> None:
    """A pause of ``seconds``, precise to microseconds (time.sleep overshoots this much)."""
    until = time.perf_counter() + seconds
    while time.perf_counter() < until:
        pass


def _read_all(sock: socket.socket) -> bytes:
    with sock:
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return reply


def _pools_closed(served: ServedProcess) -> int:
    lines = [json.loads(line) for line in served.logs().splitlines() if line.startswith("{")]
    return [line["message"] for line in lines].count("pools closed")


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as listing:
        return [int(child) for child in listing.read().split()]


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True
