"""A redis-server of one test's own, for tests that flush, restart or reconfigure it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import RedisServer


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """Never the shared test Redis: this one may be FLUSHALLed or restarted at will."""
    directory = tmp_path / "private-redis"
    directory.mkdir()
    server = RedisServer(directory)
    yield server
    server.stop()
