"""The service as `make run` serves it, in a process of its own that tests can signal and kill.

``python serve.py`` (hypercorn's workers under the service's master) with the
settings in its environment; its stdout and stderr go to a file the test can
read (the JSON request log among them).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from config.settings import Settings
from tests.support.processes import ROOT, free_port, migrate, wait_until
from tests.support.signing import default_key_path


class ServedProcess:
    """One ``serve.py`` process (and its workers) serving ``asgi:app``."""

    def __init__(self, environ: dict[str, str], log_path: Path, args: tuple[str, ...] = ()) -> None:
        self.environ = environ
        self.args = args  # e.g. ("--mail-worker",), as `make run` passes
        self.log_path = log_path
        self.port = int(environ["PORT"])
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        """Start (or start again, on the same port and database) and wait until it serves."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "serve.py", *self.args],
                cwd=ROOT,
                env=os.environ | self.environ,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own process group: hypercorn's workers are child
                # processes, and a kill must take them along.
                start_new_session=True,
            )
        wait_until(self._healthy, timeout=30)

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.logs()}")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM, as an orchestrator stops it; the exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self) -> None:
        """SIGKILL the server and its workers at once: no cleanup of any kind."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None:
            self.kill()

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")


def run_serve(environ: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``python serve.py`` run to its end with these settings over the defaults (none from this shell)."""
    settings = {name for name in os.environ if name.lower() in Settings.model_fields}
    return subprocess.run(
        [sys.executable, "serve.py"],
        cwd=ROOT,
        env={name: value for name, value in os.environ.items() if name not in settings} | environ,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def serve_process(tmp_path: Path, redis_url: str) -> Iterator[Callable[..., ServedProcess]]:
    """Start served processes with environment overrides; all are killed after the test."""
    started: list[ServedProcess] = []

    def start(database_url: str | None = None, args: tuple[str, ...] = (), **overrides: str) -> ServedProcess:
        number = len(started) + 1
        if database_url is None:
            database_url = f"sqlite+aiosqlite:///{tmp_path / f'served-{number}.db'}"
            migrate(database_url)
        environ = {
            "APP_ENV": "production",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "PORT": str(free_port()),
            "WORKERS": "1",
            "BCRYPT_ROUNDS": "4",
            "SMTP_URL": "smtp://127.0.0.1:9",  # required in production; nothing here sends mail
            "SIGNING_KEYS": default_key_path(),
            "MFA_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        } | {key.upper(): str(value) for key, value in overrides.items()}
        served = ServedProcess(environ, tmp_path / f"served-{number}.log", args)
        started.append(served)
        return served

    yield start
    for served in started:
        served.stop()
