"""A/B of one load across trees of the service: side by side on one database and Redis, runs alternated.

    git worktree add /tmp/before <commit>
    .venv/bin/python -m bench.ab sqlite /tmp/before .       # or pg (BENCH_PG's server)

Prints, per tree, the median req/s and CPU µs per request, the CPU ratio to
the first tree in each pair, and the errors. Quicker than ``make bench``
with BENCH_BASELINE for one change's effect: no references, one load.
BENCH_AB_PAIRS (5), BENCH_DURATION (8 s), BENCH_AB_CONNS (64), BENCH_WORKERS
(2 each). Each tree holds a pool of its own: on PostgreSQL, mind
max_connections (two trees of 2 workers with 20 connections each fit 100).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import data, measure, run
from bench.loads import ME, Load
from bench.servers import PY, ROOT, Process, free_port, redis_server


def main(kind: str, trees: list[str]) -> None:
    pairs = int(os.environ.get("BENCH_AB_PAIRS") or 5)
    conns = int(os.environ.get("BENCH_AB_CONNS") or 64)
    work = Path(tempfile.mkdtemp(prefix="bench-ab-"))
    pg_admin = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    db = data.Database(pg_admin if kind == "pg" else "", work)
    started: list[Process] = []
    try:
        store = redis_server(work)
        started.append(store.start(work))
        env = run.service_env(db, db.port, store.port or 0, work)
        migrate = {**os.environ, **env}
        subprocess.run(
            [PY, "-m", "alembic", "upgrade", "head"], cwd=ROOT, env=migrate, check=True, capture_output=True
        )
        services: dict[str, Process] = {}
        for tree in trees:
            path = Path(tree).resolve()
            port = free_port()
            served = {**env, "PORT": str(port), "PYTHONPATH": str(path)}
            process = Process(path.name, [PY, "serve.py", "asgi:app"], env=served, port=port, cwd=path)
            services[tree] = process
            started.append(process.start(work))
        seed = data.seed(f"http://127.0.0.1:{services[trees[0]].port}", run.PASSWORD, run.LOGIN_USERS)
        load = Load("ab", "GET", ME, conns, [], {"BENCH_AUTH": f"Bearer {seed.token}"})
        for process in services.values():
            measure.wrk(process.port or 0, load, 4)
        samples: dict[str, list[dict]] = {tree: [] for tree in trees}
        for number in range(pairs):
            for tree in trees if number % 2 == 0 else trees[::-1]:
                samples[tree].append(measure.sample(services[tree], load, run.DURATION))
        first = samples[trees[0]]
        for tree, runs in samples.items():
            ratios = " ".join(
                f"{one['cpu_us'] / base['cpu_us']:.2f}" for one, base in zip(runs, first, strict=True)
            )
            print(
                f"{kind} {tree}: {statistics.median(one['rps'] for one in runs):,.0f} req/s, "
                f"{statistics.median(one['cpu_us'] for one in runs):,.0f} µs CPU per request "
                f"(pair ratios {ratios}), {sum(one['errors'] for one in runs)} errors",
                flush=True,
            )
    finally:
        for process in reversed(started):
            process.stop()
        db.drop()


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in ("sqlite", "pg"):
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:])
