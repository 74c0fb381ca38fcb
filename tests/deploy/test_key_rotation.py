"""Key rotation on a running two-instance deployment: logged-in users never see a failed request."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jwt

from tests.factories import PASSWORD, register
from tests.support.live import LiveServer
from tests.support.signing import new_key_path

ROOT = Path(__file__).resolve().parents[2]
ME = "/api/v1/users/me"


class Traffic:
    """Logged-in users calling the fleet round-robin and refreshing now and then, until stopped."""

    def __init__(self, fleet: list[LiveServer], users: list[dict[str, str]]) -> None:
        self.fleet, self.users = fleet, users
        self.failures: list[str] = []
        self.requests = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with httpx.Client(timeout=30) as http:
            turn = 0
            while not self._stop.is_set():
                turn += 1
                user = self.users[turn % len(self.users)]
                server = self.fleet[turn % len(self.fleet)]
                if turn % 5 == 0:
                    response = http.post(
                        f"{server.url}/api/v1/auth/refresh", json={"refresh_token": user["refresh_token"]}
                    )
                    if response.status_code == 200:
                        user.update(response.json())
                else:
                    response = http.get(
                        f"{server.url}{ME}", headers={"Authorization": f"Bearer {user['access_token']}"}
                    )
                self.requests += 1
                if response.status_code != 200:
                    self.failures.append(
                        f"{response.request.method} {response.request.url}: {response.status_code}"
                    )

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def roll(fleet: list[LiveServer], start: Callable[..., LiveServer], signing_keys: str) -> None:
    """Replace each instance by one with ``signing_keys``: the new one joins before the old leaves."""
    for index, old in enumerate(list(fleet)):
        fleet[index] = start(signing_keys=signing_keys)
        time.sleep(0.3)  # requests in flight on the old instance finish
        old.stop()
        time.sleep(0.2)


def kid_of(token: str) -> str:
    kid: str = jwt.get_unverified_header(token)["kid"]
    return kid


def thumbprint(path: str) -> str:
    from service.auth.tokens.signing_keys import load_signing_key

    return load_signing_key(Path(path)).kid


def test_rotation_across_restarts_of_two_instances(
    make_server: Callable[..., LiveServer], databases: Any
) -> None:
    url = databases.new()
    old_key = new_key_path("rotation-old")

    def start(**settings: Any) -> LiveServer:
        return make_server(url, **settings)

    fleet = [start(signing_keys=old_key), start(signing_keys=old_key)]
    users: list[dict[str, Any]] = []
    with httpx.Client(base_url=fleet[0].url) as client:
        for _ in range(6):
            account = register(client)
            login = client.post(
                "/api/v1/auth/login", json={"username": account.username, "password": PASSWORD}
            )
            users.append(login.json())
    # Two users stay idle through the rotation: one refreshes after it, one never does.
    busy, returning, stale = users[:4], users[4], users[5]
    assert kid_of(returning["refresh_token"]) == thumbprint(old_key)

    done = subprocess.run(
        [sys.executable, "-m", "service", "keys", "generate", "--dir", str(Path(old_key).parent)],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "SIGNING_KEYS": old_key, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    values = [line.removeprefix("SIGNING_KEYS=") for line in done.stdout.splitlines() if "=" in line]
    publish, sign = values
    new_key = sign.split(",")[0]
    assert publish == f"{old_key},{new_key}" and sign == f"{new_key},{old_key}"

    traffic = Traffic(fleet, busy)
    try:
        roll(fleet, start, publish)  # 1. every instance verifies (and publishes) the new key
        published = httpx.get(f"{fleet[0].url}/.well-known/jwks.json").json()["keys"]
        assert {key["kid"] for key in published} == {thumbprint(old_key), thumbprint(new_key)}
        roll(fleet, start, sign)  # 2. every instance signs with it
        time.sleep(1.0)
    finally:
        traffic.stop()
    assert traffic.failures == [], traffic.failures[:5]
    assert traffic.requests > 50
    assert all(kid_of(user["refresh_token"]) == thumbprint(new_key) for user in busy)

    with httpx.Client(base_url=fleet[1].url) as client:
        # An old key's token still works, and its refresh returns a pair of the new key.
        assert client.get(ME, headers=bearer(returning["access_token"])).status_code == 200
        response = client.post("/api/v1/auth/refresh", json={"refresh_token": returning["refresh_token"]})
        assert response.status_code == 200
        pair = response.json()
        assert kid_of(pair["access_token"]) == kid_of(pair["refresh_token"]) == thumbprint(new_key)

    # 3. After REFRESH_TOKEN_TTL the old key goes: its tokens are 401, the new ones keep working.
    roll(fleet, start, new_key)
    with httpx.Client(base_url=fleet[0].url) as client:
        assert client.get(ME, headers=bearer(stale["access_token"])).status_code == 401
        assert (
            client.post("/api/v1/auth/refresh", json={"refresh_token": stale["refresh_token"]}).status_code
            == 401
        )
        assert client.get(ME, headers=bearer(pair["access_token"])).status_code == 200
        for user in busy:
            assert client.get(ME, headers=bearer(user["access_token"])).status_code == 200
        keys = client.get("/.well-known/jwks.json").json()["keys"]
        assert [key["kid"] for key in keys] == [thumbprint(new_key)]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
