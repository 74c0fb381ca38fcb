"""A real six-node Redis Cluster (three masters, three replicas) for the tests.

``pytest --redis-cluster`` points the session's ``redis_url`` at one, so the
API suites run against the cluster as they run against a single Redis (the
mail queue included). ``redis_cluster`` gives a test the session's cluster,
``fresh_redis_cluster`` one of its own to kill nodes of.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.cluster import RedisCluster
from redis.sentinel import Sentinel

from config.redis_url import is_cluster_url, is_sentinel_url, parse_cluster_url, parse_sentinel_url
from scripts.redis_cluster import RedisCluster6


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--redis-cluster",
        action="store_true",
        help="run against a six-node Redis Cluster started for the session instead of one redis-server",
    )


def sync_client(url: str) -> redis.Redis:
    """A synchronous client for a test to look into the service's Redis, whichever form ``url`` has."""
    if is_cluster_url(url):
        target = parse_cluster_url(url)
        host, port = target.nodes[0]
        # Typed as redis.Redis: the tests use only the keyed commands both share (and SCAN, all masters).
        return RedisCluster(host=host, port=port, password=target.password)  # type: ignore[return-value]
    if is_sentinel_url(url):
        sentinel = parse_sentinel_url(url)
        return Sentinel(sentinel.sentinels).master_for(
            sentinel.service_name, db=sentinel.db, password=sentinel.password
        )
    return redis.Redis.from_url(url)


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster6]:
    """Six loopback nodes shared by the test session."""
    cluster = RedisCluster6(tmp_path_factory.mktemp("redis-cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def fresh_redis_cluster(tmp_path: Path) -> Iterator[RedisCluster6]:
    """A cluster of one test's own: failover tests kill and restart its nodes."""
    cluster = RedisCluster6(tmp_path / "cluster")
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
