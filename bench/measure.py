"""Loads, wrk runs, medians and the table of ``make bench``."""

from __future__ import annotations

import json
import math
import os
import secrets
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import bcrypt
import psycopg2
import redis
from sqlalchemy.engine import make_url

from bench.servers import ROOT, Process, call

ME = "/api/v1/users/me"
NOTES = "/api/v1/notes"
LOGIN = "/api/v1/auth/login"


@dataclass
class Row:
    """One line of the table: medians over the runs of one load on one target."""

    scenario: str
    target: str
    endpoint: str
    conns: int
    rps: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    errors: int = 0
    cpu_ms: float | None = None
    rss_mb: float | None = None
    note: str = ""


@dataclass
class Seed:
    """What the loads need: the service's URL, a token, login bodies, whether notes exist."""

    base: str
    token: str
    notes: bool
    login_bodies: list[str]
    tokens: dict[str, str] = field(default_factory=dict)  # a target's own token, e.g. the baseline's HS256


@dataclass
class Load:
    endpoint: str
    method: str
    path: str
    conns: int
    targets: list[str]
    env: dict[str, str] = field(default_factory=dict)
    available: bool = True
    per_target: dict[str, dict[str, str]] = field(default_factory=dict)  # env a target needs instead


class Database:
    """A fresh PostgreSQL database (dropped at the end), or a SQLite file without one."""

    def __init__(self, admin_url: str, work: Path) -> None:
        self.admin_url = admin_url
        self.name = f"bench_{os.getpid()}_{secrets.token_hex(4)}"
        self.port: int | None = None
        self.sqlite = work / "bench.db"
        if admin_url:
            parsed = make_url(admin_url)
            self.user, self.port = parsed.username or "postgres", parsed.port or 5432
            self._admin(f'CREATE DATABASE "{self.name}"')

    def url(self, port: int | None) -> str:
        if not self.admin_url:
            return f"sqlite+aiosqlite:///{self.sqlite}"
        return f"postgresql+asyncpg://{self.user}@127.0.0.1:{port}/{self.name}"

    def drop(self) -> None:
        if self.admin_url:
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def _admin(self, statement: str) -> None:
        connection = psycopg2.connect(self.admin_url)
        connection.autocommit = True
        try:
            connection.cursor().execute(statement)
        finally:
            connection.close()


def pg_answers(admin_url: str) -> bool:
    try:
        psycopg2.connect(admin_url, connect_timeout=3).close()
    except psycopg2.Error:
        return False
    return True


def proxy_rtt_ms(port: int) -> float:
    """Median PING time through a proxy, in ms."""
    client = redis.Redis(port=port)
    times = []
    for _ in range(100):
        started = time.perf_counter()
        client.ping()
        times.append((time.perf_counter() - started) * 1000)
    client.close()
    return statistics.median(times)


def log_in(base: str, username: str, password: str) -> str:
    """An access token of ``username`` from the service at ``base``."""
    status, body = call(f"{base}{LOGIN}", "POST", {"username": username, "password": password})
    if status != 200:
        raise RuntimeError(f"login of {username} at {base} answered {status}: {body}")
    token: str = body["access_token"]
    return token


def seed(base: str, password: str, login_users: int) -> Seed:
    """A user with a token (and notes when the service has them), plus users to log in."""
    call(f"{base}/api/v1/auth/register", "POST", {"username": "bench", "password": password})
    status, body = call(f"{base}{LOGIN}", "POST", {"username": "bench", "password": password})
    if status != 200:
        raise RuntimeError(f"login of the benchmark user answered {status}: {body}")
    token = body["access_token"]
    notes = call(f"{base}{NOTES}", token=token)[0] != 404
    if notes:
        for number in range(30):
            call(f"{base}{NOTES}", "POST", {"title": f"note {number}", "body": "x" * 200}, token)
    bodies = []
    for number in range(login_users):
        credentials = {"username": f"bench-login-{number}", "password": password}
        call(f"{base}/api/v1/auth/register", "POST", credentials)
        bodies.append(json.dumps(credentials))
    return Seed(base, token, notes, bodies)


def loads(seed: Seed, scenario: str, with_variant: bool = False, with_baseline: bool = False) -> list[Load]:
    auth = {"BENCH_AUTH": f"Bearer {seed.token}"}
    note = json.dumps({"title": "benchmark note", "body": "b" * 200})
    result = []
    own = {target: {"BENCH_AUTH": f"Bearer {token}"} for target, token in seed.tokens.items()}
    for conns in (64, 512):
        targets = ["service", "floor", "sync"] + (["variant"] if with_variant else [])
        targets += ["baseline"] if with_baseline else []
        result.append(Load("GET /users/me", "GET", ME, conns, targets, auth, per_target=own))
    for conns in (64, 512):
        result.append(Load("GET /notes", "GET", NOTES, conns, ["service"], auth, seed.notes))
        post = {**auth, "BENCH_METHOD": "POST", "BENCH_BODY": note}
        result.append(Load("POST /notes", "POST", NOTES, conns, ["service"], post, seed.notes))
    if scenario == "local":
        login = {"BENCH_METHOD": "POST", "BENCH_BODIES": "\n".join(seed.login_bodies)}
        result.append(Load("POST /auth/login", "POST", LOGIN, 8, ["service"], login))
    # BENCH_ONLY="GET /users/me" keeps the loads whose name contains it (quicker A/B runs).
    only = os.environ.get("BENCH_ONLY")
    return [load for load in result if not only or only in f"{load.endpoint} @{load.conns}"]


def wrk(port: int, load: Load, duration: float, target: str = "") -> dict:
    threads = min(2, load.conns)
    env = {**os.environ, **load.env, **load.per_target.get(target, {})}
    seconds = max(1, math.ceil(duration))  # wrk takes whole seconds only
    argv = ["wrk", f"-t{threads}", f"-c{load.conns}", f"-d{seconds}s", "--timeout", "10s"]
    argv += ["-s", str(ROOT / "bench" / "request.lua"), f"http://127.0.0.1:{port}{load.path}"]
    output = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("BENCH "))
    return json.loads(line[len("BENCH ") :])


def sample(process: Process, load: Load, duration: float, target: str = "") -> dict:
    """One wrk run with the server's CPU time and memory around it."""
    before = process.cpu_seconds()
    result = wrk(process.port or 0, load, duration, target)
    cpu = process.cpu_seconds() - before
    requests = max(result["requests"], 1)
    return {
        "rps": result["requests"] / (result["duration_us"] / 1e6),
        "p50_ms": result["p50_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
        "errors": result["non2xx"] + result["socket_errors"],
        "cpu_ms": cpu * 1000 / requests,
        "rss_mb": process.rss_mb(),
    }


def warm_up(process: Process, seed: Seed, target: str) -> None:
    auth = {"BENCH_AUTH": f"Bearer {seed.tokens.get(target, seed.token)}"}
    for conns in (64, 512):
        wrk(process.port or 0, Load("warm", "GET", ME, conns, [], auth), 3)


def bcrypt_rate(seconds: float, rounds: int, threads: int = 2) -> float:
    """Password checks per second that bcrypt itself does on ``threads`` threads."""
    hashed = bcrypt.hashpw(b"benchmark-password", bcrypt.gensalt(rounds))
    counts = [0] * threads
    deadline = time.monotonic() + seconds

    def work(index: int) -> None:
        while time.monotonic() < deadline:
            bcrypt.checkpw(b"benchmark-password", hashed)
            counts[index] += 1

    workers = [threading.Thread(target=work, args=(index,)) for index in range(threads)]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.monotonic() - started)


def drive(
    scenario: str, all_loads: list[Load], targets: dict[str, Process], duration: float, runs: int
) -> list[Row]:
    """Every load on every one of its targets, the targets interleaved run by run."""
    rows = []
    rounds = int(os.environ.get("BCRYPT_ROUNDS") or 12)
    for load in all_loads:
        if not load.available:
            rows.append(Row(scenario, "service", load.endpoint, load.conns, note="n/a: not on this branch"))
            continue
        samples: dict[str, list[dict]] = {target: [] for target in load.targets}
        hashing: list[float] = []
        for _ in range(runs):
            for target in load.targets:
                samples[target].append(sample(targets[target], load, duration, target))
            if load.path == LOGIN:
                hashing.append(bcrypt_rate(min(duration, 5), rounds))
        for target, results in samples.items():
            rows.append(_row(scenario, target, load, results))
        if hashing:
            rows.append(
                Row(
                    scenario,
                    "bcrypt",
                    f"checkpw cost {rounds}",
                    2,
                    statistics.median(hashing),
                    note="2 threads",
                )
            )
        print(f"  {scenario} {load.endpoint} @{load.conns}: done", flush=True)
    return rows


def _row(scenario: str, target: str, load: Load, results: list[dict]) -> Row:
    def median(key: str) -> float:
        return statistics.median(result[key] for result in results)

    return Row(
        scenario,
        target,
        load.endpoint,
        load.conns,
        median("rps"),
        median("p50_ms"),
        median("p99_ms"),
        sum(result["errors"] for result in results),
        median("cpu_ms"),
        max(result["rss_mb"] for result in results),
    )


def soak(process: Process, seed: Seed, total: int, chunks: int = 10) -> Row:
    """About ``total`` requests of GET /users/me at 64 connections; RSS after each tenth.

    wrk cannot stop after a number of requests, so a short probe sets the
    length of each chunk and the soak runs until ``total`` requests are done.
    """
    load = Load("soak", "GET", ME, 64, [], {"BENCH_AUTH": f"Bearer {seed.token}"})
    probe = wrk(process.port or 0, load, 5)
    rate = max(probe["requests"] / (probe["duration_us"] / 1e6), 1.0)
    seconds = max(total / chunks / rate, 2.0)
    rss, errors, requests = [process.rss_mb()], 0, 0
    started = time.monotonic()
    while requests < total and len(rss) <= 3 * chunks:
        result = wrk(process.port or 0, load, seconds)
        errors += result["non2xx"] + result["socket_errors"]
        requests += result["requests"]
        rss.append(process.rss_mb())
    elapsed = time.monotonic() - started
    growth = (rss[-1] - rss[0]) / rss[0] * 100
    trace = " ".join(f"{mb:.0f}" for mb in rss)
    note = f"{requests} requests; RSS before and after each chunk: {trace} MiB ({growth:+.1f}%)"
    return Row(
        "local",
        "service",
        "soak GET /users/me",
        64,
        requests / elapsed,
        errors=errors,
        rss_mb=rss[-1],
        note=note,
    )


def table(rows: list[Row]) -> str:
    """The rows as a Markdown table with the service's ratios to the references."""
    by_key = {(row.scenario, row.target, row.endpoint, row.conns): row for row in rows}
    lines = [
        "| scenario | target | endpoint | conns | req/s | p50 ms | p99 ms | errors | CPU ms/req | RSS MiB "
        "| x floor | x sync | |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        ratios = []
        for reference in ("floor", "sync"):
            other = by_key.get((row.scenario, reference, row.endpoint, row.conns))
            ok = (
                row.target in ("service", "variant", "baseline")
                and other is not None
                and row.rps
                and other.rps
            )
            ratios.append(f"{row.rps / other.rps:.2f}" if ok else "")  # type: ignore[operator]
        base = by_key.get((row.scenario, "baseline", row.endpoint, row.conns))
        if (
            row.target == "service"
            and base is not None
            and base.rps
            and row.rps
            and row.cpu_ms
            and base.cpu_ms
        ):
            row.note = (
                f"x baseline {row.rps / base.rps:.2f}; CPU {row.cpu_ms - base.cpu_ms:+.3f} ms/req vs baseline"
            )
        if row.target == "bcrypt":
            login = by_key.get((row.scenario, "service", "POST /auth/login", 8))
            if login is not None and login.rps and row.rps:
                row.note = f"2 threads; login / bcrypt = {login.rps / row.rps:.2f}"
        lines.append(
            f"| {row.scenario} | {row.target} | {row.endpoint} | {row.conns} "
            f"| {_num(row.rps, 0 if (row.rps or 0) >= 100 else 1)} "
            f"| {_num(row.p50_ms, 1)} | {_num(row.p99_ms, 1)} | {row.errors} | {_num(row.cpu_ms, 2)} "
            f"| {_num(row.rss_mb, 0)} | {ratios[0]} | {ratios[1]} | {row.note} |"
        )
    return "\n".join(lines)


def _num(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"
