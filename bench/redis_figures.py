"""The Redis parts of the run: a six-node cluster for the service, and Redis memory per login session.

Both come from modules of their own (``scripts/redis_cluster.py``, the
cluster launcher; ``bench/session_memory.py``, the memory measurement); a
tree without one of them, or whose settings do not take a ``redis+cluster://``
URL, skips that part with one line.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

CLUSTER_SCHEME = "redis+cluster://"
LOGINS = 2000
SPREADS = (10, 1)  # sessions per account: a few each, and the dearest case, one each


def cluster_missing() -> str:
    """Why the service cannot run on a Redis Cluster from this tree, or "" when it can."""
    try:
        importlib.import_module("scripts.redis_cluster")
    except ImportError as error:
        return f"no cluster launcher (scripts/redis_cluster.py: {error})"
    from config import settings

    if CLUSTER_SCHEME not in getattr(settings, "REDIS_SCHEMES", ()):
        return f"the settings take no {CLUSTER_SCHEME} REDIS_URL"
    return ""


def start_cluster(directory: Path) -> Any:
    """Six loopback redis-server nodes in cluster mode; the launcher, with ``.url`` and ``.stop()``."""
    launcher = importlib.import_module("scripts.redis_cluster").RedisCluster6(directory)
    launcher.start()
    return launcher


def memory_function() -> tuple[Callable[..., float] | None, str]:
    """``bytes_per_session`` from bench/session_memory.py, or None and why not."""
    try:
        module = importlib.import_module("bench.session_memory")
    except ImportError as error:
        return None, f"no bench/session_memory.py ({error})"
    function = getattr(module, "bytes_per_session", None)
    if function is None:
        return None, "bench/session_memory.py has no bytes_per_session"
    return function, ""


def memory_line(where: str, base_url: str, redis_url: str) -> str:
    """One line: Redis memory per bearer login session on ``where``, measured through ``base_url``.

    The Redis is emptied before each spread of logins (the service's data
    there is only what the measurement wrote).
    """
    function, missing = memory_function()
    if function is None:
        return f"Redis memory per login session ({where}): skipped, {missing}"
    module = importlib.import_module("bench.session_memory")
    figures = []
    try:
        for per_account in SPREADS:
            getattr(module, "flush", lambda url: None)(redis_url)
            figure = function(base_url, redis_url, logins=LOGINS, accounts=LOGINS // per_account)
            figures.append(f"{figure:,.0f} bytes at {per_account} per account")
    except Exception as error:  # the figure is one line of the report: say why it is missing
        return f"Redis memory per login session ({where}): not measured, {type(error).__name__}: {error}"
    return (
        f"Redis memory per login session ({where}): {', '.join(figures)} "
        f"({LOGINS:,} bearer logins with a 111-character User-Agent, used_memory before and after)"
    )
