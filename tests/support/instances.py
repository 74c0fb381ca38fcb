"""Service instances as production runs them: hypercorn processes configured from the environment.

Unlike ``LiveServer`` (in-process, one loop), each instance here is its own
operating-system process tree, started with the same command as ``make run``
and the Dockerfile, so instances share nothing but Redis and the database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

from tests.support.processes import ROOT, free_port, wait_until
from tests.support.signing import default_key_path

# The command the deployment runs (Dockerfile, docker-compose.yml, make run).
SERVE_COMMAND = ["serve.py"]


class ServiceProcess:
    """One instance of the service: ``workers`` hypercorn workers on a free port."""

    def __init__(self, environ: dict[str, str], log: Path, workers: int = 1) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.environ = os.environ | environ | {"PORT": str(self.port), "WORKERS": str(workers)}
        self.log = log
        self._log_file = log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, *SERVE_COMMAND],
            cwd=ROOT,
            env=self.environ,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until(self.healthy, timeout=60)
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"instance did not start; its log:\n{log.read_text()}") from None

    def healthy(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"instance exited with {self.process.returncode}:\n{self.log.read_text()}")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> int | None:
        """SIGTERM, as an orchestrator stops it; its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_file.close()
        return self.process.returncode


def instance_environ(secret: str, database_url: str, redis_url: str, **environ: object) -> dict[str, str]:
    """The environment of an instance: production, these stores, extra settings upper-cased."""
    return {
        "APP_ENV": "production",
        "SECRET_KEY": secret,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "BCRYPT_ROUNDS": "4",
        "SMTP_URL": "smtp://127.0.0.1:9",  # required in production; nothing here sends mail
        "SIGNING_KEYS": default_key_path(),
        "MFA_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    } | {name.upper(): str(value) for name, value in environ.items()}
