"""Redis memory per bearer login session: ``used_memory`` before and after many logins.

``bytes_per_session`` drives a running service; ``python -m bench.session_memory``
(``--cluster``: on a six-node Redis Cluster) starts its own Redis and service
(SQLite, bcrypt at its lowest cost, login limits out of the way) and prints
the figure for a few spreads of logins over accounts: the per-account key
(the session index) weighs more when an account has fewer sessions. The user
agent is stored once for all of them.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import redis
from redis.cluster import ClusterNode, RedisCluster

from bench.servers import PY, ROOT, Process, call, hypercorn, redis_server, wait_until_ready

# 111 characters, a desktop browser's.
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36 Edg/124.0"
)
PASSWORD = "session-memory-password"
LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
assert len(USER_AGENT) == 111
WARM_ACCOUNTS = 24


def connect(redis_url: str) -> redis.Redis | RedisCluster:
    """A client on a plain Redis URL or a ``redis+cluster://`` one (its masters are read and flushed)."""
    if not redis_url.startswith("redis+cluster://"):
        return redis.Redis.from_url(redis_url)
    from config.redis_url import parse_cluster_url  # only here: the plain form needs no settings

    target = parse_cluster_url(redis_url)
    nodes = [ClusterNode(host, port) for host, port in target.nodes]
    return RedisCluster(startup_nodes=nodes, username=target.username, password=target.password)


def flush(redis_url: str) -> None:
    """Empty the Redis (every master of a cluster): a fresh main dictionary for the next reading."""
    client = connect(redis_url)
    if isinstance(client, RedisCluster):
        client.flushall(target_nodes=RedisCluster.PRIMARIES)
    else:
        client.flushall()
    client.close()


def _readings(client: redis.Redis | RedisCluster) -> tuple[int, int]:
    """``used_memory``, and the same less the connections' buffers, summed over a cluster's masters."""
    if isinstance(client, RedisCluster):
        answers = client.info("memory", target_nodes=RedisCluster.PRIMARIES)
        infos = [answers] if "used_memory" in answers else list(answers.values())
    else:
        infos = [client.info("memory")]
    # A master's replication backlog fills as writes flow (up to repl-backlog-size):
    # replication's memory, not the data's.
    used = sum(int(info["used_memory"]) - _replication(info) for info in infos)
    return used, used - sum(int(info["mem_clients_normal"]) for info in infos)


def _replication(info: dict) -> int:
    return int(info.get("mem_replication_backlog", 0)) + int(info.get("mem_clients_slaves", 0))


def _log_in(base_url: str, username: str, refreshed: bool = False) -> None:
    status, body = _post(base_url + LOGIN, {"username": username, "password": PASSWORD})
    if status != 200:
        raise RuntimeError(f"login of {username} answered {status}: {body}")
    if refreshed:
        status, body = _post(base_url + REFRESH, {"refresh_token": body["refresh_token"]})
        if status != 200:
            raise RuntimeError(f"refresh of {username}'s session answered {status}: {body}")


def _post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    request.add_header("User-Agent", USER_AGENT)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, {}


def bytes_per_session(
    base_url: str,
    redis_url: str,
    *,
    logins: int = 2000,
    accounts: int = 200,
    refreshed: bool = False,
    include_clients: bool = False,
) -> float:
    """Redis ``used_memory`` growth per bearer login, ``logins`` spread evenly over ``accounts`` new accounts.

    The service must let one address log in ``logins`` times (LOGIN_MAX_PER_IP)
    and keep ``logins / accounts`` sessions per account (MAX_SESSIONS_PER_USER,
    100 by default); a low BCRYPT_ROUNDS keeps it quick. With ``refreshed``,
    each session's refresh token is also spent once, as a client does every
    ACCESS_TOKEN_TTL: the record then holds the refresh grace's fields too.
    The connections' buffers, which follow how many connections the
    service's pool happens to hold open rather than the data, are left out
    unless ``include_clients``.
    """
    with_clients, without = measure(
        base_url, redis_url, logins=logins, accounts=accounts, refreshed=refreshed
    )
    return with_clients if include_clients else without


def measure(
    base_url: str, redis_url: str, *, logins: int, accounts: int, refreshed: bool
) -> tuple[float, float]:
    """Bytes per login of ``used_memory``, and of the same less the connections' buffers.

    The accounts are registered, and unmeasured logins (and refreshes) of
    other accounts load the scripts, before the first reading: 24 of them,
    so that every master of a cluster has loaded them too (each account's
    keys sit in one slot).
    """
    run = secrets.token_hex(3)
    names = [f"mem-{run}-{number}" for number in range(accounts)]
    warm = [f"mem-{run}-warm-{number}" for number in range(WARM_ACCOUNTS)]
    for name in [*names, *warm]:
        body = {"username": name, "password": PASSWORD}
        status, answer = call(f"{base_url}/api/v1/auth/register", "POST", body)
        if status != 201:
            raise RuntimeError(f"registering {name} answered {status}: {answer}")
    for name in warm:
        _log_in(base_url, name, refreshed=True)
    client = connect(redis_url)
    before = _readings(client)
    usernames = [names[number % accounts] for number in range(logins)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda name: _log_in(base_url, name, refreshed), usernames))
    after = _readings(client)
    client.close()
    return (after[0] - before[0]) / logins, (after[1] - before[1]) / logins


def _service(work: Path, redis_url: str) -> Process:
    env = {
        "APP_ENV": "development",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": f"sqlite+aiosqlite:///{work / 'memory.db'}",
        "REDIS_URL": redis_url,
        "WORKERS": "1",
        "BCRYPT_ROUNDS": "4",
        "LOGIN_MAX_PER_ACCOUNT": "1000000000",
        "LOGIN_MAX_PER_IP": "1000000000",
        "MAX_SESSIONS_PER_USER": "2000",
        "PYTHONPATH": str(ROOT),
    }
    migrate = [PY, "-m", "alembic", "upgrade", "head"]
    subprocess.run(migrate, cwd=ROOT, env={**os.environ, **env}, check=True, capture_output=True)
    return hypercorn("service", "asgi:app", env)


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="session-memory-"))
    logins = int(os.environ.get("SESSION_MEMORY_LOGINS") or 2000)
    started: list[Any] = []  # each with a stop()
    try:
        if "--cluster" in sys.argv[1:]:
            from scripts.redis_cluster import RedisCluster6

            cluster = RedisCluster6(work / "cluster")
            redis_url = cluster.start()
            started.append(cluster)
        else:
            store = redis_server(work)
            started.append(store.start(work))
            redis_url = f"redis://127.0.0.1:{store.port}/0"
        service = _service(work, redis_url)
        started.append(service.start(work))
        base_url = f"http://127.0.0.1:{service.port}"
        wait_until_ready(base_url)
        # Sessions per account, and whether each is refreshed once.
        for per_account, refreshed in [(100, False), (10, False), (1, False), (10, True)]:
            # A Redis as fresh as the first reading's: the main dictionary's
            # size doubles in steps, which would shift a later reading.
            flush(redis_url)
            accounts = logins // per_account
            with_clients, figure = measure(
                base_url, redis_url, logins=logins, accounts=accounts, refreshed=refreshed
            )
            print(
                f"Redis memory per bearer login session: {figure:.0f} bytes ({with_clients:.0f} with the "
                f"connections' buffers), {logins} logins over {accounts} accounts, {per_account} each"
                f"{', each refreshed once' if refreshed else ''}; {len(USER_AGENT)}-character user agent",
                flush=True,
            )
    finally:
        for process in reversed(started):
            process.stop()


if __name__ == "__main__":
    sys.exit(main())
