"""Redis Sentinel: the service follows a failover, and no revoked token is ever accepted.

REDIS_URL names the master through a real sentinel; logouts wait for one
replica (REDIS_REPLICA_ACKS=1), so a revocation the service acknowledged is on
the replica that the sentinel promotes.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.factories import Account, logged_in_user
from tests.support.failover import LOGOUT, ME, Traffic, logs_out
from tests.support.live import LiveServer
from tests.support.processes import wait_until
from tests.support.sentinel import SentinelCluster


@pytest.fixture
def service(make_server: Callable[..., LiveServer], sentinel_cluster: SentinelCluster) -> LiveServer:
    return make_server(
        redis_url=sentinel_cluster.url,
        redis_replica_acks=1,
        # Generous: on a loaded machine the replica may take a while to
        # acknowledge, and a spurious 503 here would fail the test.
        redis_replica_timeout=3.0,
        redis_socket_timeout=1.0,
    )


def _answers(client: httpx.Client, account: Account) -> bool:
    return client.get(ME, headers=account.auth).status_code == 200


@pytest.mark.slow
def test_the_service_follows_a_failover_and_never_accepts_a_revoked_token(
    service: LiveServer, sentinel_cluster: SentinelCluster
) -> None:
    old_master = sentinel_cluster.master_port()
    with httpx.Client(base_url=service.url, timeout=30) as client:
        revoked = [logged_in_user(client) for _ in range(3)]
        live = [logged_in_user(client) for _ in range(2)]
        for account in revoked:
            response = client.post(LOGOUT, headers=account.auth)
            assert response.status_code == 204, sentinel_cluster.master.client().info("replication")
        traffic = Traffic(service.url, revoked, live)
        try:
            # One more logout right before the master dies: acknowledged, so
            # it must hold on the promoted replica.
            last = logged_in_user(client)
            assert client.post(LOGOUT, headers=last.auth).status_code == 204
            traffic.revoked.append(last)
            sentinel_cluster.master.kill()

            wait_until(lambda: sentinel_cluster.master_port() != old_master, timeout=60)
            wait_until(lambda: _answers(client, live[0]), timeout=30)
            # The promoted master has no replica yet: a logout cannot be made
            # durable, so it is not acknowledged (the client must try again).
            assert client.post(LOGOUT, headers=live[1].auth).status_code == 503
            # The old machine comes back as a replica of the new master, and
            # logouts are acknowledged again.
            sentinel_cluster.restart_old_master_as_replica()
            wait_until(lambda: logs_out(client), timeout=60)
        finally:
            traffic.stop()
        assert traffic.errors == []
        assert traffic.accepted_revoked == []
        assert set(traffic.statuses) <= {200, 401, 503}, traffic.statuses
        assert traffic.statuses[503] > 0, "the switch was not seen: the test proved nothing"
        for account in [*revoked, last]:
            assert client.get(ME, headers=account.auth).status_code == 401
        fresh = logged_in_user(client)
        assert _answers(client, fresh)


def test_a_logout_the_replicas_cannot_confirm_is_503_not_204(
    service: LiveServer, sentinel_cluster: SentinelCluster
) -> None:
    with httpx.Client(base_url=service.url, timeout=30) as client:
        account = logged_in_user(client)
        sentinel_cluster.replica.pause()
        try:
            response = client.post(LOGOUT, headers=account.auth)
        finally:
            sentinel_cluster.replica.resume()
        assert response.status_code == 503
        assert response.headers["Content-Type"] == "application/problem+json"
        # Once the replica answers again the logout goes through.
        wait_until(lambda: client.post(LOGOUT, headers=account.auth).status_code in (204, 401), timeout=30)
        assert client.get(ME, headers=account.auth).status_code == 401
