"""A real six-node Redis Cluster (three masters, three replicas) for the tests.

``pytest --redis-cluster`` points the session's ``redis_url`` at it, so the
API suites run against the cluster as they run against a single Redis; the
mail queue, which cannot live on a cluster, gets a plain Redis of its own
(``MAIL_QUEUE_REDIS_URL``). ``redis_cluster`` alone gives a test the cluster.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.cluster import RedisCluster

from config.redis_url import is_cluster_url, parse_cluster_url
from scripts.redis_cluster import RedisCluster6
from tests.support.processes import RedisServer

# The plain Redis holding the mail queue of each cluster a test session started.
QUEUE_REDIS: dict[str, str] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--redis-cluster",
        action="store_true",
        help="run against a six-node Redis Cluster started for the session instead of one redis-server",
    )


def queue_url_for(redis_url: str) -> str | None:
    """The plain Redis for the mail queue beside a test cluster, or None if ``redis_url`` is not one."""
    return QUEUE_REDIS.get(redis_url) if is_cluster_url(redis_url) else None


def sync_client(url: str) -> redis.Redis | RedisCluster:
    """A synchronous client for a test to look into Redis, whichever form ``url`` has."""
    if is_cluster_url(url):
        target = parse_cluster_url(url)
        host, port = target.nodes[0]
        return RedisCluster(host=host, port=port, password=target.password)
    return redis.Redis.from_url(url)


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster6]:
    """Six loopback nodes shared by the session, with a plain Redis beside them for the mail queue."""
    directory: Path = tmp_path_factory.mktemp("redis-cluster")
    cluster = RedisCluster6(directory / "nodes")
    queue = None
    try:
        url = cluster.start()
        queue = RedisServer(directory)
        QUEUE_REDIS[url] = queue.url
        yield cluster
    finally:
        cluster.stop()
        if queue is not None:
            queue.stop()


@pytest.fixture
def fresh_redis_cluster(tmp_path: Path) -> Iterator[tuple[RedisCluster6, str]]:
    """A cluster of one test's own (failover tests kill its nodes) and a plain Redis for the mail queue."""
    cluster = RedisCluster6(tmp_path / "cluster")
    queue = None
    try:
        cluster.start()
        queue = RedisServer(tmp_path)
        yield cluster, queue.url
    finally:
        cluster.stop()
        if queue is not None:
            queue.stop()
