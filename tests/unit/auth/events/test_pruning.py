"""Pruning security events past EVENT_RETENTION_DAYS: the worker's scheduled job and the admin command."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from service.auth.events.pruning import add_pruning
from service.mail.worker import run_worker
from tests.conftest import base_settings
from tests.support.processes import ROOT, RedisServer
from tests.unit.mail.test_queue import settings_for


def seed(sqlite_url: str) -> sqlite3.Connection:
    """A user with one event of each age: 200, 100 and 1 day old."""
    db = sqlite3.connect(sqlite_url.removeprefix("sqlite+aiosqlite:///"), isolation_level=None)
    now = datetime.now(UTC).replace(tzinfo=None)
    db.execute(
        "INSERT INTO users (username, password_hash, created_at, account_key) VALUES ('ann', 'x', ?, ?)",
        (now, "k" * 32),
    )
    for days in (200, 100, 1):
        db.execute(
            "INSERT INTO security_events (user_id, type, created_at, ip, user_agent)"
            " VALUES (1, ?, ?, '', '')",
            (f"login_{days}", now - timedelta(days=days)),
        )
    return db


def kept(db: sqlite3.Connection) -> list[str]:
    return [row[0] for row in db.execute("SELECT type FROM security_events ORDER BY id")]


def prune_command(sqlite_url: str, redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    environ = {"DATABASE_URL": sqlite_url, "REDIS_URL": redis_url, "APP_ENV": "development"}
    return subprocess.run(
        [sys.executable, "-m", "service", "prune-events", *args],
        cwd=ROOT,
        env=os.environ | environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_command_deletes_what_is_older_than_the_retention(sqlite_url: str, redis_url: str) -> None:
    db = seed(sqlite_url)
    done = prune_command(sqlite_url, redis_url, "--days", "150")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "deleted 1 security event"
    assert kept(db) == ["login_100", "login_1"]
    default = prune_command(sqlite_url, redis_url)  # EVENT_RETENTION_DAYS, 90 unless set
    assert default.stdout.strip() == "deleted 1 security event"
    assert kept(db) == ["login_1"]
    assert prune_command(sqlite_url, redis_url, "--days", "0").returncode == 2


def test_the_worker_prunes_on_its_schedule(
    sqlite_url: str, private_redis: RedisServer, tmp_path: Path
) -> None:
    db = seed(sqlite_url)
    settings = base_settings(sqlite_url, private_redis.url, event_retention_days=30)

    async def run() -> None:
        stop = asyncio.Event()
        mail = settings_for(private_redis.url, outbox_dir=tmp_path)
        worker = asyncio.create_task(run_worker(mail, stop, add_tasks=add_pruning(settings, interval=1)))
        for _ in range(100):
            if kept(db) == ["login_1"]:
                break
            await asyncio.sleep(0.1)
        stop.set()
        await worker

    asyncio.run(run())
    assert kept(db) == ["login_1"]
