"""The loads of ``make bench``: which request, at how many connections, against which targets."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field

from bench.data import LOGIN, NOTES, Seed

ME = "/api/v1/users/me"
ME_CONNS = (64, 512, 2048)  # 2,048: the scale view
NOTES_CONNS = (64, 512)
PAGES = (10, 100)
LOGIN_CONNS = 8
REFERENCES = ("floor", "sync", "fastapi")
COMPARED = ("variant", "baseline", "cluster")  # the service again, another way, beside it


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


def loads(seed: Seed, scenario: str, present: set[str]) -> list[Load]:
    """Every load of the scenario, for the targets that are ``present``, filtered by BENCH_ONLY."""
    auth = {"BENCH_AUTH": f"Bearer {seed.token}"}
    own = {target: {"BENCH_AUTH": f"Bearer {token}"} for target, token in seed.tokens.items()}
    me_targets = [t for t in ("service", *REFERENCES, *COMPARED) if t in present]
    notes_targets = [t for t in ("service", "fastapi", "baseline") if t in present]
    note = json.dumps({"title": "benchmark note", "body": "b" * 200})
    result = [Load("GET /users/me", "GET", ME, conns, me_targets, auth, per_target=own) for conns in ME_CONNS]
    for conns in NOTES_CONNS:
        for page in PAGES:
            path = f"{NOTES}?limit={page}"
            result.append(
                Load(f"GET /notes?limit={page}", "GET", path, conns, notes_targets, auth, seed.notes)
            )
        post = {**auth, "BENCH_METHOD": "POST", "BENCH_BODY": note}
        result.append(Load("POST /notes", "POST", NOTES, conns, notes_targets, post, seed.notes))
    if scenario == "local":
        login = {"BENCH_METHOD": "POST", "BENCH_BODIES": "\n".join(seed.login_bodies)}
        result.append(Load("POST /auth/login", "POST", LOGIN, LOGIN_CONNS, ["service"], login))
    # BENCH_ONLY="GET /users/me" keeps the loads whose name contains it (quicker A/B runs).
    only = os.environ.get("BENCH_ONLY")
    return [load for load in result if not only or only in f"{load.endpoint} @{load.conns}"]


def expected_seconds(scenarios: list[str], present: set[str], duration: float, runs: int) -> float:
    """About how long the wrk runs of these scenarios take (warm-ups included, start-ups not)."""
    probe = Seed("", "", True, [])
    total = 0.0
    for scenario in scenarios:
        here = present - {"cluster"} if scenario != "local" else present
        for load in loads(probe, scenario, here):
            bcrypt = min(duration, 5) if load.path == LOGIN else 0
            total += runs * (len(load.targets) * max(1, math.ceil(duration)) + bcrypt)
        total += 6 * len(here) + 1  # warm-up: 3 s at 64 and at 512 connections per target
    return total
