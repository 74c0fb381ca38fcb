"""serve.py: a listening socket per worker; a worker gone ends the service, the master gone its workers."""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import socket
from collections import Counter
from collections.abc import Callable

import pytest

from tests.support.processes import free_port, wait_until
from tests.support.served import ServedProcess, run_serve

CONNECTIONS = 200


def test_new_connections_are_spread_over_the_workers(serve_process: Callable[..., ServedProcess]) -> None:
    served = serve_process(workers=2)
    # It serves once one worker listens; this test needs both.
    wait_until(lambda: served.logs().count("Running on http") == 2, timeout=30)
    # A burst of new keep-alive connections, all opened at once as wrk does.
    burst = _connect_at_once(served.port, CONNECTIONS)
    try:
        for number, sock in enumerate(burst):
            sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-ID: burst-{number}\r\n\r\n".encode())
        for sock in burst:
            assert _read_head(sock).startswith(b"HTTP/1.1 200")
    finally:
        for sock in burst:
            sock.close()

    # Each worker listens on a socket of its own, the master on none. With
    # hypercorn's master all three held the same one, and under a load like
    # wrk's one worker took 372 of 512 new connections (README, the tail).
    assert served.process is not None
    workers = _worker_pids(served.process.pid)
    assert not _listening(served.process.pid, served.port)
    first, second = (_listening(pid, served.port) for pid in workers)
    assert len(first) == len(second) == 1
    assert first != second
    # Each request's log line names the worker that answered it; the line is
    # written just after the answer.
    wait_until(lambda: sum(_answered_by(served).values()) == CONNECTIONS, timeout=10)
    answered_by = _answered_by(served)
    assert len(answered_by) == 2
    # The kernel hashes each connection to one of the two sockets: each
    # worker's share is binomial around 100 (standard deviation 7).
    assert min(answered_by.values()) >= CONNECTIONS // 4, answered_by


def test_a_worker_that_dies_takes_the_service_down(serve_process: Callable[..., ServedProcess]) -> None:
    served = serve_process(workers=2)
    assert served.process is not None
    first, second = _worker_pids(served.process.pid)
    os.kill(first, signal.SIGKILL)
    # Not left half-serving: the master stops the other worker and exits with
    # an error, for the supervisor to restart the whole. (Hypercorn's master
    # exits 0 here, which a restart-on-failure policy takes for a clean stop.)
    assert served.process.wait(30) == 1
    with pytest.raises(ProcessLookupError):
        os.kill(second, 0)


def test_workers_stop_when_the_master_is_killed(serve_process: Callable[..., ServedProcess]) -> None:
    served = serve_process(workers=2)
    assert served.process is not None
    workers = _worker_pids(served.process.pid)
    os.kill(served.process.pid, signal.SIGKILL)  # the master alone: OOM killer, kill -9
    served.process.wait(10)
    # Left running, the workers would serve on, unsupervised, beside the
    # instance a supervisor starts next on the same port.
    wait_until(lambda: not any(_alive(pid) for pid in workers), timeout=30)
    assert served.logs().count("pools closed") == 2  # a graceful stop, not a crash


@pytest.mark.parametrize("reuse_port", [False, True])
def test_a_port_held_by_another_program_fails_the_start_in_one_line(reuse_port: bool) -> None:
    port = free_port()
    with socket.socket() as squatter:
        # Even a squatter with SO_REUSEPORT (which the workers' binds would
        # share connections with) is found before any worker starts.
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, int(reuse_port))
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        result = run_serve({"PORT": str(port), "WORKERS": "2"})
    assert result.returncode == 2
    assert [json.loads(line)["message"] for line in result.stderr.splitlines()] == [
        f"cannot start: PORT {port} on 127.0.0.1 is already in use (another server?): "
        "stop that one or set PORT to a free port"
    ]


def _connect_at_once(port: int, count: int) -> list[socket.socket]:
    """``count`` connections whose handshakes all start before any is waited for."""
    burst = [socket.socket() for _ in range(count)]
    for sock in burst:
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))
    with selectors.DefaultSelector() as selector:
        for sock in burst:
            selector.register(sock, selectors.EVENT_WRITE)
        connected = 0
        while connected < count:
            for key, _ in selector.select(timeout=30):
                selector.unregister(key.fileobj)
                connected += 1
    for sock in burst:
        sock.setblocking(True)
        sock.settimeout(30)
    return burst


def _answered_by(served: ServedProcess) -> Counter[int]:
    """How many requests of the burst each worker (by pid) answered."""
    lines = [json.loads(text) for text in served.logs().splitlines() if text.startswith("{")]
    return Counter(line["pid"] for line in lines if str(line.get("request_id", "")).startswith("burst-"))


def _worker_pids(master: int) -> list[int]:
    """The master's worker processes, once both have started."""

    def workers() -> list[int]:
        with open(f"/proc/{master}/task/{master}/children") as listing:
            children = [int(pid) for pid in listing.read().split()]
        # Beside the workers, multiprocessing may run its resource tracker.
        return [pid for pid in children if b"spawn_main" in _cmdline(pid)]

    wait_until(lambda: len(workers()) == 2, timeout=10)
    return workers()


def _listening(pid: int, port: int) -> set[int]:
    """The inodes of the listening sockets on ``port`` that process ``pid`` holds."""
    listening = set()
    with open("/proc/net/tcp") as table:
        for row in table.readlines()[1:]:
            fields = row.split()
            local, state, inode = fields[1], fields[3], int(fields[9])
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                listening.add(inode)
    held = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                held.add(int(target[len("socket:[") : -1]))
    return listening & held


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie, dead but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read()
    except FileNotFoundError:
        return b""


def _read_head(sock: socket.socket) -> bytes:
    """One response's status line and headers (the health body is read and dropped)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data
