"""The operator commands, ``python -m service <command>``, run as an operator runs them.

Each test serves the service as `make run` does, on a migrated SQLite
database and a Redis of its own, runs the commands as subprocesses with the
same environment, and checks their effect through real HTTP.
"""

from __future__ import annotations

import contextlib
import os
import pty
import select
import subprocess
import sys
from collections.abc import Callable

import httpx
import pytest

from tests.factories import PASSWORD, log_in, register
from tests.support.processes import ROOT, RedisServer, free_port
from tests.support.served import ServedProcess

ME = "/api/v1/users/me"


def admin(
    served: ServedProcess, *args: str, stdin: str = "", **environ: str
) -> subprocess.CompletedProcess[str]:
    """Run one command with the server's settings; its status, stdout and stderr."""
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        cwd=ROOT,
        env=os.environ | served.environ | environ,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def served(
    serve_process: Callable[..., ServedProcess], sqlite_url: str, private_redis: RedisServer
) -> ServedProcess:
    return serve_process(sqlite_url, redis_url=private_redis.url, login_max_per_account=3, login_max_per_ip=6)


def test_create_user_reads_the_password_from_stdin_and_the_user_can_log_in(served: ServedProcess) -> None:
    password = "operator chosen secret"
    done = admin(served, "create-user", "ops_alice", "--password-stdin", stdin=f"{password}\n")
    assert done.returncode == 0, done.stderr
    assert "created user 'ops_alice'" in done.stdout
    assert password not in done.stdout + done.stderr
    with httpx.Client(base_url=served.url, timeout=15) as client:
        login = client.post("/api/v1/auth/login", json={"username": "ops_alice", "password": password})
        assert login.status_code == 200
        me = client.get(ME, headers={"Authorization": f"Bearer {login.json()['access_token']}"})
        assert me.json()["username"] == "ops_alice"

    taken = admin(served, "create-user", "OPS_ALICE", "--password-stdin", stdin="another long password\n")
    assert (taken.returncode, taken.stderr) == (1, "error: The username 'OPS_ALICE' is taken.\n")
    short = admin(served, "create-user", "ops_bob", "--password-stdin", stdin="short\n")
    assert short.returncode == 1 and short.stderr.startswith("error: password: ")
    # No terminal and no --password-stdin: refused, not a prompt that hangs or echoes.
    prompt = admin(served, "create-user", "ops_carol")
    assert prompt.returncode == 2 and "--password-stdin" in prompt.stderr


def test_end_sessions_stops_every_token_and_cookie_of_the_user(served: ServedProcess) -> None:
    with httpx.Client(base_url=served.url, timeout=15) as client:
        account = register(client)
        bearers = [log_in(client, account).auth for _ in range(2)]
        other = log_in(client, register(client))
        login = client.post("/api/v1/session", json={"username": account.username, "password": PASSWORD})
        client.cookies.clear()  # sent explicitly: the cookie is Secure, the server plain http
        cookie = {"Cookie": f"session={login.cookies['session']}"}
        assert client.get(ME, headers=cookie).status_code == 200

        listed = admin(served, "sessions", account.username)
        assert listed.returncode == 0, listed.stderr
        assert len(listed.stdout.splitlines()) == 1 + 3  # a header, then two bearer logins and one cookie
        assert "127.0.0.1" in listed.stdout

        ended = admin(served, "end-sessions", account.username)
        expected = f"ended 3 sessions and revoked 0 personal access tokens of {account.username!r}\n"
        assert (ended.returncode, ended.stdout) == (0, expected)
        for bearer in bearers:
            assert client.get(ME, headers=bearer).status_code == 401
        assert client.get(ME, headers=cookie).status_code == 401
        assert client.get(ME, headers=other.auth).status_code == 200  # nobody else's
        assert (
            admin(served, "sessions", account.username).stdout
            == f"{account.username!r} has no live sessions\n"
        )


def test_clear_limits_lets_a_locked_out_account_and_address_log_in(served: ServedProcess) -> None:
    with httpx.Client(base_url=served.url, timeout=15) as client:
        account = register(client)
        right = {"username": account.username, "password": PASSWORD}
        wrong = {"username": account.username, "password": "not the password"}
        for _ in range(3):
            assert client.post("/api/v1/auth/login", json=wrong).status_code == 401
        assert client.post("/api/v1/auth/login", json=right).status_code == 429  # the account's limit

        # The counter is keyed by a hash of the name in any letter case.
        cleared = admin(served, "clear-limits", "--user", account.username.upper())
        assert cleared.returncode == 0, cleared.stderr
        assert client.post("/api/v1/auth/login", json=right).status_code == 200

        # Three more failures, on names nobody has, spend this address's six.
        for number in range(3):
            client.post("/api/v1/auth/login", json={"username": f"nobody{number}", "password": "x" * 12})
        assert client.post("/api/v1/auth/login", json=right).status_code == 429  # the address's limit
        assert admin(served, "clear-limits", "--ip", "127.0.0.1").returncode == 0
        assert client.post("/api/v1/auth/login", json=right).status_code == 200

    bad = admin(served, "clear-limits", "--ip", "not-an-address")
    assert bad.returncode == 2 and "not an IP address" in bad.stderr
    assert admin(served, "clear-limits").returncode == 2


def test_an_unknown_user_or_an_unreachable_redis_is_one_line_and_a_status(served: ServedProcess) -> None:
    for command in ("sessions", "end-sessions"):
        unknown = admin(served, command, "nobody_here")
        assert (unknown.returncode, unknown.stderr) == (1, "error: no user named 'nobody_here'\n")
    down = admin(
        served,
        "clear-limits",
        "--user",
        "x",
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        REDIS_SOCKET_TIMEOUT="0.5",
    )
    assert down.returncode == 3 and down.stderr.startswith("error: Redis is unavailable")
    assert len(down.stderr.splitlines()) == 1
    misconfigured = admin(served, "sessions", "x", LOGIN_WINDOW="soon")
    assert misconfigured.returncode == 2 and misconfigured.stderr.startswith("error: configuration error:")


def test_create_user_prompts_on_a_terminal_without_echoing(served: ServedProcess) -> None:
    password = "typed at the prompt"
    terminal, child_end = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "service", "create-user", "ops_dave"],
        cwd=ROOT,
        env=os.environ | served.environ,
        stdin=child_end,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,  # where getpass writes its prompt without /dev/tty
    )
    os.close(child_end)
    assert process.stderr is not None
    prompts = b""
    try:
        for prompt in (b"Password: ", b"Repeat for confirmation: "):
            while not prompts.endswith(prompt):  # typed earlier, the input would be flushed
                assert select.select([process.stderr], [], [], 30)[0], prompts
                prompts += os.read(process.stderr.fileno(), 1024)
            os.write(terminal, f"{password}\n".encode())
        stdout, _ = process.communicate(timeout=60)
        echoed = b""
        with contextlib.suppress(OSError):  # EIO once the child's end is closed and drained
            while select.select([terminal], [], [], 0)[0]:
                echoed += os.read(terminal, 1024)
    finally:
        os.close(terminal)
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()  # type: ignore[union-attr]
        process.stderr.close()
    assert process.returncode == 0
    assert b"created user 'ops_dave'" in stdout
    assert password.encode() not in echoed + prompts + stdout
    with httpx.Client(base_url=served.url, timeout=15) as client:
        login = client.post("/api/v1/auth/login", json={"username": "ops_dave", "password": password})
        assert login.status_code == 200
