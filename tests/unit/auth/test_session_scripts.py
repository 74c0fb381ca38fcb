"""The login-session scripts are Redis Cluster-safe: each call's keys share one slot, and it touches no other.

Watched with MONITOR on a Redis of the test's own while a live server runs
every flow that calls a session script: Redis lists each EVALSHA with the
KEYS the service sent, then each command the script ran (as ``lua``). Last,
the step after the login script: a login that fails there leaves no session.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
from collections.abc import Callable, Iterator

import httpx
import pytest
import redis
from redis.asyncio import Redis
from redis.crc import key_slot
from redis.exceptions import RedisError

from service.auth import session_scripts
from service.auth.password_epochs import PasswordEpoch
from service.auth.session_keys import index_key
from service.auth.sessions import ClientInfo, list_sessions, start_session
from service.auth.tokens.jwts import new_id
from service.users.keys import Account as Owner
from service.users.keys import new_account_key
from tests.factories import PASSWORD, Account, log_in, register
from tests.support.live import LiveServer
from tests.support.processes import RedisServer

SCRIPTS = {
    hashlib.sha1(getattr(session_scripts, name).encode()).hexdigest(): name
    for name in ("TOUCH", "START", "ROTATE", "END")
}
_ARG = re.compile(r'"((?:[^"\\]|\\.)*)"')
ME = "/api/v1/users/me"
REFRESH = "/api/v1/auth/refresh"


class Monitor:
    """Every command Redis runs, as (client, arguments), while in use."""

    def __init__(self, url: str) -> None:
        self.lines: list[str] = []
        self._stop = threading.Event()
        pool = redis.Redis.from_url(url, socket_timeout=0.2).connection_pool
        self._connection = pool.get_connection()
        self._connection.send_command("MONITOR")
        assert self._connection.read_response() == b"OK"
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                self.lines.append(self._connection.read_response().decode())
            except redis.TimeoutError:
                continue

    def stop(self) -> list[tuple[str, list[str]]]:
        self._stop.set()
        self._thread.join()
        self._connection.disconnect()
        commands = []
        for line in self.lines:
            client = line.split("[", 1)[1].split("]", 1)[0].split(" ", 1)[1]
            arguments = [_unescape(arg) for arg in _ARG.findall(line.split("]", 1)[1])]
            commands.append((client, arguments))
        return commands


def _unescape(text: str) -> str:
    return text.encode().decode("unicode_escape")


@pytest.fixture
def watched(
    make_server: Callable[..., LiveServer], private_redis: RedisServer
) -> Iterator[tuple[httpx.Client, Monitor]]:
    server = make_server(redis_url=private_redis.url, max_sessions_per_user=2, session_seen_interval=0)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client, Monitor(private_redis.url)


def _every_session_flow(client: httpx.Client) -> None:
    account = log_in(client, register(client))
    assert client.get(ME, headers=account.auth).status_code == 200  # the check, marking it seen
    again = log_in(client, Account(account.username, account.password, account.id))
    log_in(client, Account(account.username, account.password, account.id))  # past the limit: ends one
    pair = client.post(REFRESH, json={"refresh_token": again.refresh_token})
    assert pair.status_code == 200
    assert client.post(REFRESH, json={"refresh_token": again.refresh_token}).status_code == 200  # in grace
    thief = {"User-Agent": "thief/1.0"}
    assert client.post(REFRESH, json={"refresh_token": again.refresh_token}, headers=thief).status_code == 401
    third = log_in(client, Account(account.username, account.password, account.id))
    sessions = client.get("/api/v1/auth/sessions", headers=third.auth).json()
    other = next(s["id"] for s in sessions if not s["current"])
    assert client.delete(f"/api/v1/auth/sessions/{other}", headers=third.auth).status_code == 204
    change = {"current_password": PASSWORD, "new_password": "another password"}
    assert client.put("/api/v1/users/me/password", json=change, headers=third.auth).status_code == 204
    assert client.post("/api/v1/auth/logout", headers=third.auth).status_code == 204
    fourth = log_in(client, Account(account.username, "another password", account.id))
    assert client.post("/api/v1/auth/logout-all", headers=fourth.auth).status_code == 204
    # A cookie login, one that replaces it, and its logout.
    body = {"username": account.username, "password": "another password"}
    first_cookie = client.post("/api/v1/session", json=body).cookies["session"]
    client.cookies.clear()
    replaced = client.post("/api/v1/session", json=body, headers={"Cookie": f"session={first_cookie}"})
    client.cookies.clear()
    headers = {
        "Cookie": f"session={replaced.cookies['session']}",
        "X-CSRF-Token": replaced.json()["csrf_token"],
    }
    assert client.delete("/api/v1/session", headers=headers).status_code == 204


def test_every_session_script_call_keeps_to_one_slot_and_its_own_keys(
    watched: tuple[httpx.Client, Monitor], private_redis: RedisServer
) -> None:
    client, monitor = watched
    _every_session_flow(client)
    commands = monitor.stop()
    inspector = private_redis.client()
    seen: set[str] = set()
    given: list[str] | None = None
    for source, arguments in commands:
        name = arguments[0].lower()
        if source != "lua":
            is_ours = name in ("evalsha", "eval") and arguments[1] in SCRIPTS
            given = arguments[3 : 3 + int(arguments[2])] if is_ours else None
            if given is not None:
                seen.add(SCRIPTS[arguments[1]])
                slots = {key_slot(key.encode()) for key in given}
                assert len(slots) == 1, f"{SCRIPTS[arguments[1]]} was given keys of several slots: {given}"
            continue
        if given is None:
            continue  # another module's script
        touched = _keys_of(inspector, arguments)
        assert set(touched) <= set(given), f"a script ran {arguments} on keys it was not given: {given}"
    assert seen == set(SCRIPTS.values())


def _keys_of(inspector: redis.Redis, arguments: list[str]) -> list[str]:
    """The key arguments of one command, as Redis itself reads them."""
    if arguments[0].upper() == "TIME":
        return []
    return list(inspector.command_getkeys(*arguments))


def test_scripts_name_keys_only_through_keys() -> None:
    # A key built inside a script from ARGV or a reply is invisible to a cluster's routing.
    for name in ("TOUCH", "START", "ROTATE", "END"):
        script = getattr(session_scripts, name)
        for call in re.findall(r"redis\.call\('(\w+)'(?:, ([^,)]+))?", script):
            command, first = call
            if command != "TIME":
                assert first.startswith("KEYS["), f"{name}: {command} on {first}"


def test_a_login_whose_epoch_read_fails_leaves_no_session_behind(private_redis: RedisServer) -> None:
    # The read after the login script fails (a list is not a string: WRONGTYPE,
    # as real a Redis error as a lost connection): the login is refused (503)
    # and the session it had recorded is ended, not left to live unlisted.
    owner = Owner(11, new_account_key())
    broken = PasswordEpoch("auth:password-epoch:not-a-string", "0")

    async def scenario() -> None:
        store = Redis.from_url(private_redis.url, decode_responses=True)
        try:
            await store.rpush(broken.key, "x")
            with pytest.raises(RedisError):
                await start_session(
                    store,
                    session_id=new_id(),
                    account=owner,
                    ttl=60,
                    limit=10,
                    client=ClientInfo("test-agent", "127.0.0.1"),
                    epoch=broken,
                )
            assert await list_sessions(store, owner) == []
            assert await store.zcard(index_key(owner)) == 0
            assert [key async for key in store.scan_iter("auth:s:*")] == []
        finally:
            await store.aclose()

    asyncio.run(scenario())
