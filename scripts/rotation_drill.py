"""Key rotation under locust traffic on two instances behind nginx: zero failed requests, or exit 1.

Starts a Redis, a database, two ``serve.py`` instances (each on its own port)
behind the real nginx with config/nginx.conf, and runs locust headless with
tests/load/locustfile.py against nginx while it performs the procedure of
docs/deployment.md ("Key rotation"): a new key from ``python -m service keys
generate``, a rolling restart of instance A and then B with ``old,new`` (each
stopped with SIGTERM, which drains, and started on the same port; nginx is
neither reloaded nor told), another with ``new,old``, and, once the old
key's last refresh token has expired (lifetimes are shortened for the drill),
a last one with the new key alone. It prints locust's request and failure
counts and exits non-zero on any failure.

    .venv/bin/python scripts/rotation_drill.py [--users 40] [--settle 15] [--refresh-ttl 60]

``make rotation-drill`` runs it with the defaults; tests/deploy/test_rotation_drill.py
runs a short one.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from cryptography.fernet import Fernet  # noqa: E402

from tests.support.nginx import Nginx  # noqa: E402
from tests.support.processes import RedisServer, free_port, migrate  # noqa: E402
from tests.support.served import ServedProcess  # noqa: E402

KEYS_LINE = re.compile(r"^SIGNING_KEYS=(\S+)$", re.MULTILINE)
INTROSPECTION_CLIENT = f"drill-rs:{secrets.token_urlsafe(24)}"  # a resource server among the users


def log(message: str) -> None:
    print(f"[drill {time.strftime('%H:%M:%S')}] {message}", flush=True)


def generate_key(key_dir: Path, current: str | None) -> list[str]:
    """``python -m service keys generate``'s SIGNING_KEYS values, in the order it prints them."""
    command = [sys.executable, "-m", "service", "keys", "generate", "--dir", str(key_dir)]
    if current:
        command += ["--current", current]
    environ = {name: value for name, value in os.environ.items() if name != "SIGNING_KEYS"}
    output = subprocess.run(command, cwd=ROOT, env=environ, capture_output=True, text=True, check=True).stdout
    return KEYS_LINE.findall(output)


def kids(url: str) -> set[str]:
    return {key["kid"] for key in httpx.get(f"{url}/.well-known/jwks.json", timeout=10).json()["keys"]}


def wait_for_traffic(nginx: Nginx, instance: ServedProcess, since: int, name: str) -> None:
    """Return once nginx has sent a request to ``instance`` (first try) since log offset ``since``."""
    deadline = time.monotonic() + 60
    while f"upstream=127.0.0.1:{instance.port} " not in nginx.access_log()[since:]:
        if time.monotonic() > deadline:
            raise RuntimeError(f"nginx sends no traffic to instance {name} again")
        time.sleep(0.1)


def roll(instances: list[ServedProcess], nginx: Nginx, signing_keys: str) -> None:
    """A rolling restart: each instance in turn stops (SIGTERM) and starts with ``signing_keys``.

    nginx is left as it is. A stopping instance refuses new connections at
    once, which nginx retries on the other (even a POST: nothing was sent),
    and it answers what nginx sends on the connections it already holds
    (service/serving/drain.py). The next instance stops only once nginx sends
    traffic to the restarted one again: nginx sets an instance that refused
    connections aside for ``fail_timeout``, and stopping the other meanwhile
    would leave it no upstream. ``zone`` in config/nginx.conf makes that one
    state for all of nginx's workers, so one request seen is all of them.
    """
    for name, instance in zip("AB", instances, strict=True):
        started = time.monotonic()
        status = instance.terminate(timeout=60)
        drained = time.monotonic() - started
        instance.environ["SIGNING_KEYS"] = signing_keys
        instance.start()
        seen = len(nginx.access_log())
        wait_for_traffic(nginx, instance, seen, name)
        elapsed = time.monotonic() - started
        log(
            f"instance {name} restarted (SIGTERM, drained in {drained:.1f} s, exit {status}), "
            f"serving through nginx: {elapsed:.1f} s"
        )
        if status != 0:
            raise RuntimeError(f"instance {name} did not stop gracefully (exit {status})")


@contextmanager
def deployment(
    work: Path, args: argparse.Namespace
) -> Iterator[tuple[list[ServedProcess], Nginx, Path, str]]:
    """Redis, a migrated database, two instances signing with a first key, nginx in front."""
    with ExitStack() as stack:
        (work / "redis").mkdir()
        redis = RedisServer(work / "redis")
        stack.callback(redis.stop)
        database_url = args.database_url or f"sqlite+aiosqlite:///{work / 'service.db'}"
        migrate(database_url)
        key_dir = work / "keys"
        (first,) = generate_key(key_dir, None)
        shared = {
            "APP_ENV": "production",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis.url,
            "WORKERS": "1",
            "BCRYPT_ROUNDS": "4",
            "SMTP_URL": "smtp://127.0.0.1:9",  # production requires one; nothing here sends mail
            "MFA_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "SIGNING_KEYS": first,
            "ACCESS_TOKEN_TTL": str(args.access_ttl),
            "REFRESH_TOKEN_TTL": str(args.refresh_ttl),
            "TRUSTED_PROXIES": "1",  # nginx's X-Forwarded-For names the client
            "INTROSPECTION_CLIENTS": INTROSPECTION_CLIENT,
        }
        if args.graceful_timeout is not None:
            shared["GRACEFUL_TIMEOUT"] = str(args.graceful_timeout)
        instances = []
        for name in "ab":
            environ = shared | {"PORT": str(free_port())}
            instance = ServedProcess(environ, work / f"instance-{name}.log")
            stack.callback(instance.stop)
            instances.append(instance)
        nginx = Nginx([f"127.0.0.1:{instance.port}" for instance in instances], work / "nginx")
        stack.callback(nginx.stop)
        yield instances, nginx, key_dir, first


def locust_totals(prefix: Path) -> tuple[int, int, list[list[str]]]:
    """The aggregated request and failure counts of locust's CSV, and the rows that failed."""
    with (prefix.parent / f"{prefix.name}_stats.csv").open() as stats:
        rows = list(csv.DictReader(stats))
    total = next(row for row in rows if row["Name"] == "Aggregated")
    failed_rows: list[list[str]] = []
    failures = prefix.parent / f"{prefix.name}_failures.csv"
    if failures.exists():
        with failures.open() as found:
            failed_rows = [list(row) for row in csv.reader(found)][1:]
    return int(total["Request Count"]), int(total["Failure Count"]), failed_rows


def drill(args: argparse.Namespace, work: Path) -> int:
    with deployment(work, args) as (instances, nginx, key_dir, old):
        old_kids = kids(nginx.url)
        prefix = work / "locust"
        command = [
            sys.executable, "-m", "locust", "-f", str(ROOT / "tests/load/locustfile.py"), "--headless",
            "--host", nginx.url, "--users", str(args.users), "--spawn-rate", str(args.spawn_rate),
            "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING",
        ]  # fmt: skip
        locust_log = (work / "locust.log").open("wb")
        environ = os.environ | {"LOAD_INTROSPECTION_CLIENT": INTROSPECTION_CLIENT}
        locust = subprocess.Popen(command, cwd=ROOT, env=environ, stdout=locust_log, stderr=subprocess.STDOUT)
        try:
            log(f"locust: {args.users} users against nginx {nginx.url}; warming up {args.settle} s")
            time.sleep(args.settle)
            both_old_first, both_new_first = generate_key(key_dir, old)
            new = both_new_first.split(",")[0]
            log("step 1: every instance verifies and publishes the new key")
            roll(instances, nginx, both_old_first)
            time.sleep(args.settle)
            log("step 2: every instance signs with the new key")
            roll(instances, nginx, both_new_first)
            wait = args.refresh_ttl + 2
            log(f"waiting {wait} s: REFRESH_TOKEN_TTL, so the old key's last refresh token expires")
            time.sleep(wait)
            log("step 3: the old key is removed")
            roll(instances, nginx, new)
            time.sleep(args.settle)
            listed = kids(nginx.url)
        finally:
            locust.send_signal(signal.SIGTERM)  # locust stops its users and writes its CSV
            try:
                locust.wait(60)
            except subprocess.TimeoutExpired:
                locust.kill()
            locust_log.close()
    requests, failures, failed_rows = locust_totals(prefix)
    print(f"locust requests: {requests}")
    print(f"locust failures: {failures}")
    for row in failed_rows:
        print("  failed: " + " | ".join(row))
    # A refused token is the rotation's fault; a request lost on its way (no answer, or
    # nginx's 502) is the restarts'.
    lost = sum(int(row[3]) for row in failed_rows if "got 0" in row[2] or "got 502" in row[2])
    print(f"  of which lost in transport (no answer, or nginx's 502): {lost}; the rest: {failures - lost}")
    published_ok = not (listed & old_kids) and len(listed) == 1
    old_key = "gone" if published_ok else "STILL LISTED"
    print(f"JWKS after the drill: {len(listed)} key(s), the old key {old_key}")
    if requests == 0:
        print(f"locust made no requests; its log: {work / 'locust.log'}")
        return 1
    return 0 if failures == 0 and published_ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--spawn-rate", type=float, default=20)
    parser.add_argument("--settle", type=int, default=15, help="seconds of traffic before and between steps")
    parser.add_argument("--access-ttl", type=int, default=20, help="ACCESS_TOKEN_TTL of the drill")
    parser.add_argument("--refresh-ttl", type=int, default=60, help="REFRESH_TOKEN_TTL of the drill")
    parser.add_argument("--graceful-timeout", type=float, help="GRACEFUL_TIMEOUT (default: the setting's)")
    parser.add_argument("--database-url", help="default: a SQLite file in the work directory")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, locust CSV)")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="rotation-drill-"))
    try:
        return drill(args, work)
    finally:
        if args.keep:
            print(f"work directory: {work}")
        else:
            subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    sys.exit(main())
