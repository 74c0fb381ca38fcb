"""``make bench``: the service against the floor and two references a user would pick instead, in one run.

Per scenario: a private Redis, a database (``local``: a SQLite file;
``hop``: a fresh PostgreSQL database), the service (hypercorn, 2 workers),
the floor (a bare ASGI app under the same hypercorn settings), the sync
reference (the Flask tutorial's stack under ``gunicorn -w 4``), the FastAPI
reference (uvicorn with uvloop and httptools, as many workers as the
service); in ``local`` also the service on a six-node Redis Cluster, and the
Redis memory per login session. Then wrk drives each load on each target,
interleaving the targets run by run so that they share the machine's
conditions, and one table is printed. Scenario ``hop`` puts Redis and
PostgreSQL behind a proxy adding 1 ms each way. Benchmarks print; they assert
nothing and exit 0.

Environment: BENCH_DURATION (seconds per run, 8), BENCH_RUNS (3),
BENCH_SCENARIOS ("local hop"), BENCH_PG (an admin URL of a PostgreSQL server
for ``hop``, ``postgresql://postgres@127.0.0.1:5432/postgres``; without one,
no hop scenario), BENCH_WORKERS (2), BENCH_ONLY (run only the loads whose
"endpoint @conns" contains it), BENCH_VARIANT ("NAME=value ...": also run the
service with these settings, as target "variant", for A/B), BENCH_BASELINE (a
commit: also run the service as of that commit, as target "baseline", on the
same database and Redis, with a token it issued: ec34670 is the HS256 code
before asymmetric tokens), BENCH_CLUSTER=0 (no cluster target), BENCH_KEEP=1
(keep each scenario's directory with the servers' logs), SOAK=1 (add the
200,000-request soak).
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
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from bench import data, loads, measure, redis_figures, report
from bench.servers import PY, ROOT, Process, baseline, gunicorn, hypercorn, proxy, redis_server, uvicorn

DURATION = float(os.environ.get("BENCH_DURATION") or 8)
RUNS = int(os.environ.get("BENCH_RUNS") or 3)
WORKERS = os.environ.get("BENCH_WORKERS") or "2"
PASSWORD = "benchmark-password"
LOGIN_USERS = 8
START_UP_SECONDS = 90  # per scenario: servers, migrations, seeding; the memory figures in local


def main() -> None:
    pg_admin = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    scenarios = (os.environ.get("BENCH_SCENARIOS") or "local hop").split()
    if "hop" in scenarios and not data.pg_answers(pg_admin):
        print(f"no PostgreSQL at {pg_admin}: no hop scenario")
        scenarios.remove("hop")
    cluster_missing = (
        redis_figures.cluster_missing() if os.environ.get("BENCH_CLUSTER") != "0" else "BENCH_CLUSTER=0"
    )
    present = {"service", *loads.REFERENCES}
    for target, on in (
        ("cluster", not cluster_missing),
        ("variant", bool(os.environ.get("BENCH_VARIANT"))),
        ("baseline", bool(os.environ.get("BENCH_BASELINE"))),
    ):
        if on:
            present.add(target)
    expected = loads.expected_seconds(scenarios, present, DURATION, RUNS) + START_UP_SECONDS * len(scenarios)
    soak = ", plus the soak" if os.environ.get("SOAK") == "1" else ""
    print(header(), flush=True)
    print(f"expected duration: about {expected / 60:.0f} min ({', '.join(scenarios)}{soak})", flush=True)
    if cluster_missing:
        print(f"cluster target skipped: {cluster_missing}", flush=True)
    rows: list[measure.Row] = []
    lines: list[str] = []
    for scenario in scenarios:
        soak = scenario == "local" and os.environ.get("SOAK") == "1"
        more_rows, more_lines = run_scenario(
            scenario, pg_admin if scenario == "hop" else "", soak, cluster_missing
        )
        rows += more_rows
        lines += more_lines
        print(report.table(rows), flush=True)
    print("\n".join(lines), flush=True)


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


def service_env(db: data.Database, db_port: int | None, redis_port: int, work: Path) -> dict:
    """The service's production settings for the scenario (those a commit predating one ignores)."""
    return {
        "APP_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": db.url(db_port),
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "WORKERS": WORKERS,
        # One token serves a whole scenario, which outlasts the default 15 minutes.
        "ACCESS_TOKEN_TTL": "14400",
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


def run_scenario(
    scenario: str, pg_admin: str, soak: bool, cluster_missing: str
) -> tuple[list[measure.Row], list[str]]:
    started: list[Process] = []
    clusters: list[Any] = []
    lines: list[str] = []
    work = Path(tempfile.mkdtemp(prefix="bench-"))

    def say(line: str) -> None:
        lines.append(f"{scenario}: {line}")
        print(lines[-1], flush=True)

    def start(process: Process) -> Process:
        started.append(process)
        return process.start(work)

    db = data.Database(pg_admin, work)
    try:
        redis = start(redis_server(work))
        redis_port, db_port = redis.port or 0, db.port
        if scenario == "hop":
            redis_port = start(proxy("redis-proxy", redis.port or 0, 1.0)).port or 0
            db_port = start(proxy("pg-proxy", db.port or 0, 1.0)).port
            say(f"round trip added by each proxy, measured: {measure.proxy_rtt_ms(redis_port):.2f} ms")
        env = service_env(db, db_port, redis_port, work)
        migrate_env = {**os.environ, **env, "DATABASE_URL": db.url(db.port)}
        subprocess.run(
            [PY, "-m", "alembic", "upgrade", "head"],
            cwd=ROOT,
            env=migrate_env,
            check=True,
            capture_output=True,
        )
        service = start(hypercorn("service", "asgi:app", env))
        targets = {"service": service, "floor": start(hypercorn("floor", "bench.floor_app:app", env))}
        seed = data.seed(f"http://127.0.0.1:{service.port}", PASSWORD, LOGIN_USERS)
        reference = {**env, **data.reference_env(seed.base, seed.token, redis.port or 0, work)}
        say(measure.verify_line(reference, seed.token))
        targets["sync"] = start(gunicorn("sync", "bench.sync_app:app", reference))
        targets["fastapi"] = start(uvicorn("fastapi", "bench.fastapi_app:app", reference, int(WORKERS)))
        variant = os.environ.get("BENCH_VARIANT")
        if variant:  # e.g. "WORKER_CLASS=uvloop": the same service with other settings, side by side
            overrides = dict(item.split("=", 1) for item in variant.split())
            targets["variant"] = start(hypercorn("variant", "asgi:app", {**env, **overrides}))
        before = os.environ.get("BENCH_BASELINE")
        if before:  # the code before a change, side by side on the same data
            targets["baseline"] = start(baseline("baseline", before, work, env))
            seed.tokens["baseline"] = data.log_in(
                f"http://127.0.0.1:{targets['baseline'].port}", "bench", PASSWORD
            )
        if scenario == "local":
            say(memory_single(env, work))
        if scenario == "local" and not cluster_missing:
            cluster = on_cluster(env, work, start, clusters, seed, say)
            if cluster is not None:
                targets["cluster"] = cluster
        refs = {name: f"http://127.0.0.1:{targets[name].port}" for name in ("sync", "fastapi")}
        for difference in data.differences(seed.base, refs, seed.token):
            say(f"reference differs: {difference}")
        all_loads = loads.loads(seed, scenario, set(targets))
        for target, process in targets.items():
            measure.warm_up(process, seed, target)
        rows = measure.drive(scenario, all_loads, targets, DURATION, RUNS)
        if soak:
            rows.append(measure.soak(service, seed, 200_000))
        return rows, lines
    finally:
        for process in reversed(started):
            process.stop()
        for launcher in clusters:
            launcher.stop()
        db.drop()
        if os.environ.get("BENCH_KEEP") == "1":  # the servers' logs, to see why a target answered errors
            print(f"{scenario}: logs kept in {work}", flush=True)
        else:
            subprocess.run(["rm", "-rf", str(work)], check=False)


def on_cluster(
    env: dict[str, str],
    work: Path,
    start: Callable[[Process], Process],
    clusters: list[Any],
    seed: data.Seed,
    say: Callable[[str], None],
) -> Process | None:
    """The service on a six-node cluster, logged in, after the memory figure there; None if it fails."""
    process = None
    try:
        clusters.append(redis_figures.start_cluster(work / "cluster"))
        # Cheap password hashes for the memory figure's 2,000 logins; GET /users/me never hashes.
        # The mail queue stays on the scenario's Redis: the cluster holds what the memory figure counts.
        cluster_env = {**env, "REDIS_URL": clusters[0].url, "BCRYPT_ROUNDS": "4"}
        cluster_env["MAIL_QUEUE_REDIS_URL"] = env["REDIS_URL"]
        process = start(hypercorn("cluster", "asgi:app", cluster_env))
        base = f"http://127.0.0.1:{process.port}"
        say(redis_figures.memory_line("six-node cluster", base, clusters[0].url))
        seed.tokens["cluster"] = data.log_in(base, "bench", PASSWORD)
    except (OSError, RuntimeError, TimeoutError, subprocess.SubprocessError) as error:
        say(f"cluster target skipped: {type(error).__name__}: {error}")
        if process is not None:
            process.stop()
        return None
    return process


def memory_single(env: dict[str, str], work: Path) -> str:
    """The memory figure on a Redis of its own, through a service with cheap password hashes."""
    redis = redis_server(work / "memory")
    (work / "memory").mkdir()
    redis.start(work / "memory")
    url = f"redis://127.0.0.1:{redis.port}/0"
    service = hypercorn("memory", "asgi:app", {**env, "REDIS_URL": url, "BCRYPT_ROUNDS": "4"})
    try:
        service.start(work / "memory")
        return redis_figures.memory_line("single node", f"http://127.0.0.1:{service.port}", url)
    finally:
        service.stop()
        redis.stop()


if __name__ == "__main__":
    # SIGTERM (a timeout, a CI cancel) unwinds like Ctrl-C does, so that the
    # finally blocks stop the servers, proxies and Redis and drop the database
    # instead of leaving them running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started_at = time.monotonic()
    main()
    print(f"benchmark took {time.monotonic() - started_at:.0f} s")
