"""The service as `make run` serves it: hypercorn in its own process, config from the environment."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from cryptography.fernet import Fernet

from tests.factories import logged_in_user
from tests.support.processes import ROOT, free_port, wait_until
from tests.support.signing import default_key_path


@pytest.fixture
def served(database_url: str, redis_url: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    environ = os.environ | {
        "APP_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "PORT": str(port),
        "WORKERS": "2",
        "BCRYPT_ROUNDS": "4",
        "SMTP_URL": "smtp://127.0.0.1:9",  # required in production; nothing here sends mail
        "SIGNING_KEYS": default_key_path(),
        "MFA_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    }
    process = subprocess.Popen(
        [sys.executable, "serve.py"],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(healthy, timeout=30)
    yield url, process
    if process.poll() is None:
        process.kill()
        process.wait()


def test_two_workers_serve_the_whole_flow_and_stop_cleanly(
    served: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, process = served
    with httpx.Client(base_url=url) as client:
        assert client.get("/readyz").status_code == 200
        account = logged_in_user(client)
        # New connections land on either worker; each has its own pools.
        for _ in range(20):
            with httpx.Client(base_url=url) as fresh:
                assert fresh.get("/api/v1/users/me", headers=account.auth).status_code == 200
        assert client.post("/api/v1/auth/logout", headers=account.auth).status_code == 204
        for _ in range(20):
            with httpx.Client(base_url=url) as fresh:
                assert fresh.get("/api/v1/users/me", headers=account.auth).status_code == 401
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
