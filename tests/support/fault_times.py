"""How long a request takes to get its 503 when Redis or PostgreSQL fails: a measurement, not a test.

Cuts each dependency with the tests' fault proxy (refuse, reset, hang) and
times GET /api/v1/users/me three times in a row (the first meets pooled
connections, the next ones new connections). PostgreSQL rows need the machine's
server at 127.0.0.1:5432 (or TEST_DATABASE_URL). Usage:

    PYTHONPATH=. .venv/bin/python tests/support/fault_times.py
"""

from __future__ import annotations

import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

from tests.conftest import base_settings
from tests.factories import logged_in_user
from tests.support.faults import FaultProxy, postgres_database
from tests.support.live import LiveServer
from tests.support.processes import RedisServer

ME = "/api/v1/users/me"


def time_to_answer(
    live: LiveServer, proxy: FaultProxy, mode: str, auth: dict[str, str]
) -> tuple[int, list[float]]:
    seconds, status = [], 0
    with proxy.fault(mode):  # type: ignore[arg-type]
        for _ in range(3):
            started = time.perf_counter()
            status = httpx.get(f"{live.url}{ME}", headers=auth, timeout=120).status_code
            seconds.append(time.perf_counter() - started)
    return status, seconds


def main() -> None:
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        redis = RedisServer(work)
        stack.callback(redis.stop)
        database_url = stack.enter_context(postgres_database())
        for name, target in (("redis", redis.url), ("postgresql", database_url)):
            proxy = FaultProxy.for_url(target)
            stack.callback(proxy.close)
            urls = {"redis": redis.url, "postgresql": database_url}
            urls[name] = proxy.url_through(target)
            # Only the secret and bcrypt cost differ from the defaults.
            settings = base_settings(urls["postgresql"], urls["redis"])
            live = LiveServer(settings)
            try:
                with httpx.Client(base_url=live.url) as client:
                    auth = logged_in_user(client).auth
                for mode in ("hang", "refuse", "reset"):  # hang first: it meets live pooled connections
                    status, seconds = time_to_answer(live, proxy, mode, auth)
                    times = "  ".join(f"{s:5.2f}" for s in seconds)
                    print(f"{name:<11} {mode:<7} {status}  {times}  (seconds)")
            finally:
                live.stop()


if __name__ == "__main__":
    main()
