"""Make sure a Redis answers at REDIS_URL, starting a private redis-server if need be.

Used by ``make run``: a Redis that already answers is used as it is; when none
does and the URL points at this machine, a ``redis-server`` is started in
``var/`` with its data kept on disk (AOF) and never evicted.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import sys
import time
from pathlib import Path

import redis
from redis.exceptions import RedisError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from config.redis_url import is_cluster_url, is_sentinel_url
from config.setting_types import mask_password
from config.settings import Settings
from service.logs import configure_process_logging, load_settings_or_log
from service.redis import create_redis, ping

log = logging.getLogger("service.redis_setup")
VAR = Path(__file__).resolve().parent.parent / "var"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping())
    except RedisError:
        return False


async def _ping_master(settings: Settings) -> None:
    client = create_redis(settings)
    try:
        await ping(client)
    finally:
        await client.aclose()


def main() -> int:
    settings = load_settings_or_log()  # a bad setting: one JSON line and status 2, as the server says it
    configure_process_logging(settings.log_level)  # its complaints on stderr are JSON lines too
    url, shown = settings.redis_url, mask_password(settings.redis_url)
    if is_sentinel_url(url) or is_cluster_url(url):
        # Sentinel-managed Redis and a cluster are never started here: only checked.
        what = "Sentinel master" if is_sentinel_url(url) else "Redis Cluster"
        try:
            asyncio.run(_ping_master(settings))
        except RedisError as error:
            log.error(f"redis: the {what} at {shown} does not answer ({type(error).__name__})")
            return 1
        print(f"redis: using the {what} at {shown}")
        return 0
    if answers(url):
        print(f"redis: using the server at {shown}")
        return 0
    connection = redis.connection.parse_url(url)
    host, port = connection.get("host", "127.0.0.1"), int(connection.get("port", 6379))
    binary = shutil.which("redis-server")
    if connection.get("password") or connection.get("username"):
        # A private server started here would have no password: anyone local could use it.
        log.error(
            f"redis: nothing answers at {shown}, and a private redis-server is started only for a "
            "REDIS_URL without a password: start that Redis yourself, or drop the password."
        )
        return 1
    if host not in LOCAL_HOSTS or binary is None:
        log.error(
            f"redis: nothing answers at {shown}. Start one (e.g. 'apt-get install redis-server' "
            "or 'docker run -p 6379:6379 redis:7') or set REDIS_URL to a Redis that runs."
        )
        return 1
    VAR.mkdir(exist_ok=True)
    subprocess.run(
        [
            binary,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--daemonize", "yes",
            "--dir", str(VAR),
            "--pidfile", str(VAR / "redis.pid"),
            "--logfile", str(VAR / "redis.log"),
            "--appendonly", "yes",
            "--appendfsync", "always",  # why: config/redis.conf
            "--maxmemory-policy", "noeviction",
        ],
        check=True,
    )  # fmt: skip
    for _ in range(50):
        if answers(url):
            log.error(
                f"redis: started a private redis-server on port {port} (data in var/, stop: make stop-redis)"
            )
            return 0
        time.sleep(0.1)
    print(f"redis: started redis-server but it does not answer at {shown}; see var/redis.log")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
