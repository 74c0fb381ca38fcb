"""Key rotation under locust traffic on two instances behind nginx: zero failed requests, or exit 1.

Starts a Redis, a database, two ``serve.py`` instances (each on its own port)
behind the real nginx with config/nginx.conf, and runs locust headless with
tests/load/locustfile.py against nginx while it performs the procedure of
docs/deployment.md ("Key rotation"): a new key from ``python -m service keys
generate``, a rolling restart of instance A and then B with ``old,new`` (each
taken out of nginx by a reload, stopped with SIGTERM, which drains, started
on the same port and put back), another with ``new,old``, and, once the old
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

from tests.support import nginx as nginx_support  # noqa: E402
from tests.support.nginx import Nginx  # noqa: E402
from tests.support.processes import RedisServer, free_port, migrate  # noqa: E402
from tests.support.served import ServedProcess  # noqa: E402

KEYS_LINE = re.compile(r"^SIGNING_KEYS=(\S+)$", re.MULTILINE)
INTROSPECTION_CLIENT = f"drill-rs:{secrets.token_urlsafe(24)}"  # a resource server among the users
FAIL_TIMEOUT = re.compile(r"^\s*server app:8000 .*fail_timeout=(\d+)s", re.MULTILINE)


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


def fail_timeout() -> float:
    """How long nginx leaves an upstream aside once it refused connections (config/nginx.conf)."""
    found = FAIL_TIMEOUT.search(nginx_support.CONFIG.read_text())
    return float(found.group(1)) if found else 10.0


def nginx_workers(nginx: Nginx) -> set[int]:
    found = subprocess.run(
        ["pgrep", "-P", str(nginx.process.pid)], capture_output=True, text=True, check=False
    )
    return {int(pid) for pid in found.stdout.split()}


def route(nginx: Nginx, instances: list[ServedProcess], out: ServedProcess | None = None) -> None:
    """Reload nginx with ``out`` marked ``down``; return once the old workers have finished.

    An old worker exits after its requests in flight are answered and closes
    its idle keep-alive connections itself, so the instance taken out is left
    with no connection on which a request could still be arriving.
    """
    upstreams = [f"127.0.0.1:{each.port}{' down' if each is out else ''}" for each in instances]
    (nginx.directory / "nginx.conf").write_text(
        nginx_support.render_config(upstreams, nginx.port, nginx.directory)
    )
    old = nginx_workers(nginx)
    nginx.process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 60
    while old & nginx_workers(nginx):
        if time.monotonic() > deadline:
            raise RuntimeError("nginx's old workers did not finish within 60 s")
        time.sleep(0.1)


def wait_for_traffic(nginx: Nginx, instance: ServedProcess, since: int, name: str) -> None:
    deadline = time.monotonic() + 60
    while f"upstream=127.0.0.1:{instance.port} " not in nginx.access_log()[since:]:
        if time.monotonic() > deadline:
            raise RuntimeError(f"nginx sends no traffic to instance {name} again")
        time.sleep(0.1)


def roll(instances: list[ServedProcess], nginx: Nginx, signing_keys: str, *, abrupt: bool) -> None:
    """A rolling restart: each instance in turn stops (SIGTERM: it drains) and starts with ``signing_keys``.

    Each is first taken out of nginx (a reload), stopped, started, and put back;
    the next one stops only once nginx sends traffic to it again. ``abrupt``
    leaves nginx as it is and relies on ``proxy_next_upstream`` alone; nginx
    then sets the stopped instance aside for ``fail_timeout``, which the next
    stop must wait out, or nginx would be left with no upstream.
    """
    for name, instance in zip("AB", instances, strict=True):
        started = time.monotonic()
        if not abrupt:
            route(nginx, instances, out=instance)
        status = instance.terminate(timeout=60)
        instance.environ["SIGNING_KEYS"] = signing_keys
        instance.start()
        seen = len(nginx.access_log())
        if abrupt:
            time.sleep(fail_timeout() + 1)
        else:
            route(nginx, instances)
        wait_for_traffic(nginx, instance, seen, name)
        elapsed = time.monotonic() - started
        log(f"instance {name} restarted (drained, exit {status}), serving through nginx: {elapsed:.1f} s")


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
            roll(instances, nginx, both_old_first, abrupt=args.abrupt)
            time.sleep(args.settle)
            log("step 2: every instance signs with the new key")
            roll(instances, nginx, both_new_first, abrupt=args.abrupt)
            wait = args.refresh_ttl + 2
            log(f"waiting {wait} s: REFRESH_TOKEN_TTL, so the old key's last refresh token expires")
            time.sleep(wait)
            log("step 3: the old key is removed")
            roll(instances, nginx, new, abrupt=args.abrupt)
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
    parser.add_argument(
        "--no-upstream-keepalive", action="store_true", help="nginx opens a connection per request"
    )
    parser.add_argument(
        "--abrupt", action="store_true", help="stop instances without taking them out of nginx first"
    )
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
