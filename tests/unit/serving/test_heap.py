"""Start-up objects are out of the garbage collector's reach once a server is up (service/heap.py)."""

from __future__ import annotations

import gc
from collections.abc import Callable

import httpx

from tests.support.live import LiveServer


def test_a_started_server_freezes_its_startup_objects(make_server: Callable[..., LiveServer]) -> None:
    # The live server runs in this process: undo any earlier freeze first,
    # so that only this server's start-up can have done it.
    gc.unfreeze()
    assert gc.get_freeze_count() == 0

    server = make_server()

    assert httpx.get(f"{server.url}/healthz").status_code == 200
    # Everything the process held at start-up (the app, its modules, the
    # pools) is frozen: full collections no longer walk it.
    assert gc.get_freeze_count() > 10_000
