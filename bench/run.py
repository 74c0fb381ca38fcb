"""``make bench``: the service against its two references, in one run.

Starts a private Redis, a fresh database, the service (hypercorn, 2 workers),
the floor (a bare ASGI app under the same hypercorn settings) and the
synchronous reference (sync Flask + Flask-SQLAlchemy + redis under
``gunicorn -w 4``); then drives each with wrk, interleaving the targets run by
run so that they share the machine's conditions, and prints one table.
Scenario ``hop`` repeats it with Redis and PostgreSQL behind a proxy adding
1 ms each way. Benchmarks print; they assert nothing and exit 0.

Environment: BENCH_DURATION (seconds per run, 10), BENCH_RUNS (3),
BENCH_SCENARIOS ("local hop"), BENCH_PG (an admin URL of a PostgreSQL server,
``postgresql://postgres@127.0.0.1:5432/postgres``; without one, SQLite and no
hop scenario), BENCH_WORKERS (2), BENCH_ONLY (run only the loads whose
"endpoint @conns" contains it), BENCH_VARIANT ("NAME=value ...": also run
the service with these settings, as target "variant", for A/B), BENCH_BASELINE (a commit: also run
the service as of that commit, as target "baseline", on the same database and Redis, with a token it
issued: e.g. the HS256 code before asymmetric tokens), SOAK=1 (add the 200,000-request soak).
"""

from __future__ import annotations

import os
import platform
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from cryptography.fernet import Fernet

from bench import measure
from bench.servers import PY, ROOT, Process, baseline, gunicorn, hypercorn, proxy, redis_server

DURATION = float(os.environ.get("BENCH_DURATION") or 10)
RUNS = int(os.environ.get("BENCH_RUNS") or 3)
WORKERS = os.environ.get("BENCH_WORKERS") or "2"
PASSWORD = "benchmark-password"
LOGIN_USERS = 8


def main() -> None:
    print(header())
    pg_admin = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    if not measure.pg_answers(pg_admin):
        print(f"no PostgreSQL at {pg_admin}: local scenario on SQLite, no hop scenario")
        pg_admin = ""
    scenarios = (os.environ.get("BENCH_SCENARIOS") or "local hop").split()
    rows: list[measure.Row] = []
    for scenario in scenarios:
        if scenario == "hop" and not pg_admin:
            continue
        rows += run_scenario(scenario, pg_admin, soak=scenario == "local" and os.environ.get("SOAK") == "1")
        print(measure.table(rows), flush=True)


def _signing_key(work: Path) -> str:
    """A fresh Ed25519 key for the service's tokens (the default algorithm)."""
    done = subprocess.run(
        [PY, "-m", "service", "keys", "generate", "--dir", str(work / "keys")],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "SIGNING_KEYS": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1].removeprefix("SIGNING_KEYS=")


def header() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "?")
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True
    )
    return (
        f"benchmark {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}: {os.cpu_count()} x {cpu}, "
        f"Python {platform.python_version()}, commit {commit.stdout.strip()}, load average "
        f"{os.getloadavg()[0]:.2f} at start; wrk runs of {DURATION:g} s, median of {RUNS}, "
        f"{WORKERS} service workers"
    )


def run_scenario(scenario: str, pg_admin: str, soak: bool) -> list[measure.Row]:
    started: list[Process] = []
    work = Path(tempfile.mkdtemp(prefix="bench-"))

    def start(process: Process) -> Process:
        started.append(process)
        return process.start(work)

    db = measure.Database(pg_admin, work)
    try:
        redis = start(redis_server(work))
        redis_port, db_port = redis.port, db.port
        if scenario == "hop":
            redis_port = start(proxy("redis-proxy", redis.port, 1.0)).port
            db_port = start(proxy("pg-proxy", db.port, 1.0)).port
            print(f"hop: round trip added by each proxy, measured: {measure.proxy_rtt_ms(redis_port):.2f} ms")
        env = {
            "APP_ENV": "production",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "DATABASE_URL": db.url(db_port),
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "WORKERS": WORKERS,
            # The login load measures what a login costs, not the brute-force
            # limiter: a handful of accounts log in thousands of times.
            "LOGIN_MAX_PER_ACCOUNT": "1000000000",
            "LOGIN_MAX_PER_IP": "1000000000",
            "PYTHONPATH": str(ROOT),
            "SIGNING_KEYS": _signing_key(work),
            # Production needs a relay and the second factor's key; no mail is sent here.
            "SMTP_URL": "smtp://127.0.0.1:9",
            "MFA_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        }
        subprocess.run(
            [PY, "-m", "alembic", "upgrade", "head"],
            cwd=ROOT,
            env={**os.environ, **env, "DATABASE_URL": db.url(db.port)},
            check=True,
            capture_output=True,
        )
        service = start(hypercorn("service", "asgi:app", env))
        floor = start(hypercorn("floor", "bench.floor_app:app", env))
        sync = start(gunicorn("sync", "bench.sync_app:app", env))
        targets = {"service": service, "floor": floor, "sync": sync}
        variant = os.environ.get("BENCH_VARIANT")
        if variant:  # e.g. "WORKER_CLASS=uvloop": the same service with other settings, side by side
            overrides = dict(item.split("=", 1) for item in variant.split())
            targets["variant"] = start(hypercorn("variant", "asgi:app", {**env, **overrides}))
        before = os.environ.get("BENCH_BASELINE")
        if before:  # the code before a change, side by side on the same data
            targets["baseline"] = start(baseline("baseline", before, work, env))
        seed = measure.seed(f"http://127.0.0.1:{service.port}", PASSWORD, LOGIN_USERS)
        if before:
            base = f"http://127.0.0.1:{targets['baseline'].port}"
            seed.tokens["baseline"] = measure.log_in(base, "bench", PASSWORD)
        loads = measure.loads(seed, scenario, with_variant="variant" in targets, with_baseline=bool(before))
        for target, process in targets.items():
            measure.warm_up(process, seed, target)
        rows = measure.drive(scenario, loads, targets, DURATION, RUNS)
        if soak:
            rows.append(measure.soak(service, seed, 200_000))
        return rows
    finally:
        for process in reversed(started):
            process.stop()
        db.drop()
        subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    # SIGTERM (a timeout, a CI cancel) unwinds like Ctrl-C does, so that the
    # finally blocks stop the servers, proxies and Redis and drop the database
    # instead of leaving them running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started_at = time.monotonic()
    main()
    print(f"benchmark took {time.monotonic() - started_at:.0f} s")
