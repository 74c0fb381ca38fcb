"""serve.py --mail-worker (`make run`): the mail worker runs as a child and stops with the rest."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.factories import PASSWORD, random_username
from tests.support.processes import RedisServer, free_port, migrate, wait_until
from tests.support.served import ServedProcess, run_serve
from tests.support.signing import default_key_path


def test_the_worker_beside_the_server_delivers_and_stops_with_it(
    serve_process: Callable[..., ServedProcess], private_redis: RedisServer, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox"
    served = serve_process(
        app_env="development",
        redis_url=private_redis.url,
        smtp_url="",  # unset: the development outbox
        mail_outbox_dir=str(outbox),
        args=("--mail-worker",),
    )
    body = {"username": random_username(), "password": PASSWORD, "email": "dora@example.com"}
    assert httpx.post(f"{served.url}/api/v1/auth/register", json=body, timeout=10).status_code == 201
    wait_until(lambda: any(outbox.glob("*.eml")), timeout=20)
    [mail] = outbox.glob("*.eml")
    assert b"To: dora@example.com" in mail.read_bytes()
    # development logs the link; the line may follow the file by a moment
    wait_until(lambda: "verify-email?token=" in served.logs(), timeout=10)

    assert served.process is not None
    group = served.process.pid
    assert served.terminate() == 0, served.logs()[-4000:]
    assert "mail worker stopped" in served.logs()
    left = subprocess.run(["ps", "-o", "pid=,args=", "-g", str(group)], capture_output=True, text=True)
    assert "mail" not in left.stdout and "serve.py" not in left.stdout, left.stdout


def test_production_refuses_to_start_without_a_relay(tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'service.db'}"
    migrate(database_url)
    environ = {
        "APP_ENV": "production",
        "SECRET_KEY": "k" * 48,
        "SIGNING_KEYS": default_key_path(),
        "DATABASE_URL": database_url,
        "PORT": str(free_port()),
    }
    result = run_serve(environ)
    assert result.returncode == 2, result.stderr
    assert "SMTP_URL is required in production" in result.stderr and "Traceback" not in result.stderr
