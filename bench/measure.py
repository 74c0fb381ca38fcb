"""wrk runs with each target's CPU and memory around them, bcrypt's own rate, medians, the soak."""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import bcrypt
import redis

from bench.data import LOGIN, Seed
from bench.loads import ME, Load
from bench.servers import ROOT, Process


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
    cpu_us: float | None = None
    rss_mb: float | None = None
    note: str = ""
    error_kinds: str = ""  # e.g. "3 non-2xx, 12 timeouts"


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


def verify_line(env: dict[str, str], token: str, times: int = 300) -> str:
    """What verifying ``token`` costs PyJWT in this process, as the references do on every request."""
    os.environ.update({name: value for name, value in env.items() if name.startswith("JWT_")})
    from bench.reference import TokenVerifier

    verifier = TokenVerifier()
    started = time.perf_counter()
    for _ in range(times):
        assert verifier.claims(f"Bearer {token}") is not None
    cost = (time.perf_counter() - started) / times * 1e6
    return (
        f"PyJWT verifies one {verifier.algorithm} token in {cost:,.0f} µs here: the references pay it on "
        "every request, the service once per token and worker (its cache of verified tokens)"
    )


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
    """One wrk run with the target's CPU time (every process of it) and memory around it."""
    before = process.cpu_seconds()
    result = wrk(process.port or 0, load, duration, target)
    cpu = process.cpu_seconds() - before
    process.settle()
    requests = result["requests"]
    timeouts = result.get("timeouts", 0)
    return {
        "rps": requests / (result["duration_us"] / 1e6),
        "p50_ms": result["p50_us"] / 1000 if requests else None,
        "p99_ms": result["p99_us"] / 1000 if requests else None,
        "errors": result["non2xx"] + result["socket_errors"],
        "non-2xx": result["non2xx"],
        "timeouts": timeouts,
        "connect/read/write errors": result["socket_errors"] - timeouts,
        "cpu_us": cpu * 1e6 / requests if requests else None,
        "rss_mb": process.rss_mb(),
    }


def warm_up(process: Process, seed: Seed, target: str) -> None:
    auth = {"BENCH_AUTH": f"Bearer {seed.token_for(target)}"}
    for conns in (64, 512):
        wrk(process.port or 0, Load("warm", "GET", ME, conns, [], auth), 3)


def _checks(hashed: bytes, seconds: float) -> float:
    """Password checks per second in this process, for ``seconds``."""
    count, started = 0, time.monotonic()
    while time.monotonic() - started < seconds:
        bcrypt.checkpw(b"benchmark-password", hashed)
        count += 1
    return count / (time.monotonic() - started)


def bcrypt_rate(seconds: float, rounds: int, processes: int) -> float:
    """Password checks per second that bcrypt itself does in ``processes`` processes at ``rounds``."""
    hashed = bcrypt.hashpw(b"benchmark-password", bcrypt.gensalt(rounds))
    with ProcessPoolExecutor(processes) as pool:
        return sum(pool.map(_checks, [hashed] * processes, [seconds] * processes))


def drive(
    scenario: str, all_loads: list[Load], targets: dict[str, Process], duration: float, runs: int
) -> list[Row]:
    """Every load on every one of its targets, the targets interleaved run by run."""
    rows = []
    rounds = int(os.environ.get("BCRYPT_ROUNDS") or 12)
    processes = int(os.environ.get("BENCH_WORKERS") or 2)
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
                hashing.append(bcrypt_rate(min(duration, 5), rounds, processes))
        for target, results in samples.items():
            rows.append(_row(scenario, target, load, results))
        if hashing:
            rate = statistics.median(hashing)
            rows.append(Row(scenario, "bcrypt", f"checkpw cost {rounds}", processes, rate))
        print(f"  {scenario} {load.endpoint} @{load.conns}: done", flush=True)
    return rows


def _row(scenario: str, target: str, load: Load, results: list[dict]) -> Row:
    def median(key: str) -> float | None:
        values = [result[key] for result in results if result[key] is not None]
        return statistics.median(values) if values else None

    kinds = ("non-2xx", "timeouts", "connect/read/write errors")
    counts = {kind: sum(result[kind] for result in results) for kind in kinds}
    return Row(
        scenario,
        target,
        load.endpoint,
        load.conns,
        median("rps"),
        median("p50_ms"),
        median("p99_ms"),
        sum(result["errors"] for result in results),
        median("cpu_us"),
        max(result["rss_mb"] for result in results),
        error_kinds=", ".join(f"{count} {kind}" for kind, count in counts.items() if count),
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
