"""Redis Cluster: a master dies under traffic; no revoked token is ever accepted, and the service recovers.

Six real nodes (three masters, three replicas). Logouts wait for one replica
of the master that holds the session (REDIS_REPLICA_ACKS=1), so a revocation
the service acknowledged is on the replica the cluster promotes. The master
killed is the one holding the last logout's session, right after that logout.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import httpx
import pytest

from scripts.redis_cluster import RedisCluster6
from service.auth.session_keys import index_key
from service.users.keys import Account as RedisAccount
from tests.factories import Account, logged_in_user
from tests.support.failover import LOGOUT, ME, Traffic, logs_out
from tests.support.live import LiveServer
from tests.support.processes import free_port, wait_until


@pytest.fixture
def cluster_service(
    make_server: Callable[..., LiveServer], fresh_redis_cluster: RedisCluster6
) -> tuple[LiveServer, RedisCluster6]:
    cluster = fresh_redis_cluster
    server = make_server(
        redis_url=cluster.url,
        redis_replica_acks=1,
        redis_replica_timeout=3.0,  # generous: a loaded machine's replica may be slow to acknowledge
        redis_socket_timeout=1.0,
    )
    return server, cluster


def _session_master(cluster: RedisCluster6, account: Account) -> int:
    """The port of the master holding ``account``'s sessions (the token's claims name the account)."""
    payload = account.access_token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return cluster.master_for_key(index_key(RedisAccount(int(claims["sub"]), claims["ak"])))


@pytest.mark.slow
def test_a_killed_master_loses_no_acknowledged_logout_and_the_service_recovers(
    cluster_service: tuple[LiveServer, RedisCluster6],
) -> None:
    service, cluster = cluster_service
    with httpx.Client(base_url=service.url, timeout=30) as client:
        revoked = [logged_in_user(client) for _ in range(6)]
        live = [logged_in_user(client) for _ in range(3)]
        for account in revoked:
            assert client.post(LOGOUT, headers=account.auth).status_code == 204
        traffic = Traffic(service.url, revoked, live)
        try:
            last = logged_in_user(client)
            victim = _session_master(cluster, last)
            assert client.post(LOGOUT, headers=last.auth).status_code == 204
            traffic.revoked.append(last)
            cluster.kill_master(victim)

            cluster.wait_failover(victim)
            # No restart of the service: it finds the promoted replica by itself.
            wait_until(
                lambda: all(client.get(ME, headers=a.auth).status_code == 200 for a in live), timeout=60
            )
            cluster.restart(victim)  # the old master's machine comes back, as a replica now
            cluster.wait_healthy()
            wait_until(lambda: logs_out(client), timeout=60)
        finally:
            traffic.stop()
        assert traffic.errors == []
        assert traffic.accepted_revoked == []
        assert set(traffic.statuses) <= {200, 401, 503}, traffic.statuses
        assert traffic.statuses[503] > 0, "the failover was not seen: the test proved nothing"
        for account in [*revoked, last]:
            assert client.get(ME, headers=account.auth).status_code == 401
        assert client.get("/readyz").status_code == 200
        fresh = logged_in_user(client)
        assert client.get(ME, headers=fresh.auth).status_code == 200


def test_a_cluster_no_node_of_which_answers_is_a_503_not_a_500(
    make_server: Callable[..., LiveServer],
) -> None:
    # redis-py reports "no node answers" with an exception that is no RedisError.
    server = make_server(redis_url=f"redis+cluster://127.0.0.1:{free_port()}")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        login = client.post("/api/v1/auth/login", json={"username": "nobody", "password": "x" * 12})
        assert login.status_code == 503, login.text
        assert login.headers["Content-Type"] == "application/problem+json"
        assert client.get("/readyz").status_code == 503
