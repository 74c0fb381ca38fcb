"""The service's own Redis keys and calls on a real six-node Redis Cluster (3 masters, 3 replicas).

Each multi-key step must stay in one slot, and the steps split across slots
must stay correct when requests race; the API suites run on the cluster too
(``pytest --redis-cluster``), this file checks the pieces directly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any, cast

import pytest
from redis.crc import key_slot
from redis.exceptions import ConnectionError, RedisError

from config.setting_errors import SettingsError
from scripts.redis_cluster import HOST, RedisCluster6
from service import redis_cluster as redis_cluster_module
from service.auth import limits
from service.auth.email import mail_tokens
from service.auth.tokens import personal
from service.errors import BadRequest, DependencyDown
from service.models import utcnow
from service.redis import ServiceRedis, create_redis, ping, wait_for_replicas
from service.redis_cluster import ServiceRedisCluster
from service.serving.runtime import Runtime
from service.users.keys import Account, new_account_key
from tests.conftest import base_settings


def _run(cluster: RedisCluster6, scenario: Callable[[ServiceRedis], Awaitable[Any]], **overrides: Any) -> Any:
    settings = base_settings("sqlite+aiosqlite:///:memory:", cluster.url, **overrides)

    async def main() -> Any:
        redis = create_redis(settings)
        try:
            return await scenario(redis)
        finally:
            await redis.aclose()

    return asyncio.run(main())


def _move_slot(cluster: RedisCluster6, key: str) -> None:
    """Hand ``key``'s slot, with its keys, to another master, as ``redis-cli --cluster reshard`` does."""
    slot = key_slot(key.encode())
    source_port = cluster.master_for_key(key)
    target_port = next(port for port in cluster.master_ports() if port != source_port)
    source, target = cluster.node(source_port).client(), cluster.node(target_port).client()
    source_id, target_id = source.execute_command("CLUSTER MYID"), target.execute_command("CLUSTER MYID")
    target.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", source_id)
    source.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", target_id)
    keys = source.execute_command("CLUSTER GETKEYSINSLOT", slot, 1000)
    source.execute_command("MIGRATE", HOST, target_port, "", 0, 5000, "KEYS", *keys)
    for port in [target_port, *(port for port in cluster.master_ports() if port != target_port)]:
        cluster.node(port).client().execute_command("CLUSTER SETSLOT", slot, "NODE", target_id)


def test_a_pipeline_whose_slot_moved_completes_in_its_own_turn(fresh_redis_cluster: RedisCluster6) -> None:
    key = f"{{{new_account_key()}}}count"

    async def scenario(redis: ServiceRedis) -> list[Any]:
        await redis.set(key, "1")  # the client now maps the slot to its first master
        await asyncio.to_thread(_move_slot, fresh_redis_cluster, key)
        # The pipeline meets MOVED and redis-py re-sends its commands one by
        # one: with a single turn, which the pipeline holds, a second would never come.
        async with asyncio.timeout(5):
            async with redis.pipeline(transaction=False) as pipe:
                pipe.incr(key)
                pipe.get(key)
                return await pipe.execute()

    assert _run(fresh_redis_cluster, scenario, redis_max_connections=1, redis_pool_timeout=60) == [2, "2"]


def _uncover_slot_of(cluster: RedisCluster6, key: str) -> None:
    """Stop the master of ``key``'s slot and its replica, the others forgetting them: no node serves it."""
    master = cluster.master_for_key(key)
    replica = next(
        node.port
        for node in cluster.nodes
        if node.port != master and int(node.client().info("replication").get("master_port", 0)) == master
    )
    gone = [cluster.node(port).client().execute_command("CLUSTER MYID") for port in (master, replica)]
    cluster.kill(master)
    cluster.kill(replica)
    for node in cluster.nodes:
        if node.alive():
            for node_id in gone:
                node.client().execute_command("CLUSTER FORGET", node_id)


def test_a_slot_no_node_serves_is_redis_down_for_a_revocation_never_a_500(
    fresh_redis_cluster: RedisCluster6,
) -> None:
    key = f"{{{new_account_key()}}}probe"
    hashed = personal.digest("pat_" + "B" * 43)

    async def attempts(redis: ServiceRedis) -> list[BaseException | None]:
        async def tombstone() -> None:  # a pipeline, then the fence on the tombstone's master
            await personal._tombstone(
                cast(Runtime, SimpleNamespace(redis=redis)), [(hashed, utcnow())], utcnow()
            )

        outcomes: list[BaseException | None] = []
        for attempt in (tombstone, lambda: wait_for_replicas(redis, key), lambda: wait_for_replicas(redis)):
            try:
                await attempt()
                outcomes.append(None)
            except Exception as error:  # what the error path would be handed
                outcomes.append(error)
        return outcomes

    async def scenario(redis: ServiceRedis) -> list[BaseException | None]:
        await redis.set(key, "1")  # a client that knew the slot's master, and one that starts after
        await asyncio.to_thread(_uncover_slot_of, fresh_redis_cluster, key)
        fresh = create_redis(base_settings("sqlite+aiosqlite:///:memory:", fresh_redis_cluster.url))
        fresh.replica_acks = 1
        try:
            return await attempts(redis) + await attempts(redis) + await attempts(fresh)
        finally:
            await fresh.aclose()

    outcomes = _run(fresh_redis_cluster, scenario, redis_replica_acks=1, redis_replica_timeout=0.2)
    # The error path answers 503 to a RedisError or DependencyDown; anything else would be a 500.
    assert [type(o).__name__ for o in outcomes if not isinstance(o, (RedisError, DependencyDown))] == []


def test_the_account_and_address_counters_stop_racing_guesses_at_the_limit(
    redis_cluster: RedisCluster6,
) -> None:
    account, address = f"auth:limit:account:{new_account_key()}", f"auth:limit:ip:{new_account_key()}"

    async def scenario(redis: ServiceRedis) -> tuple[list[int], str | None, str | None]:
        waits = await asyncio.gather(*(limits.take(redis, 60, {account: 3, address: 100}) for _ in range(12)))
        return list(waits), await redis.get(account), await redis.get(address)

    waits, account_count, address_count = _run(redis_cluster, scenario)
    assert sorted(waits)[:3] == [0, 0, 0] and all(wait > 0 for wait in sorted(waits)[3:])
    # A refused attempt counts nowhere: the address saw exactly the three that went through.
    assert (account_count, address_count) == ("3", "3")


def test_a_refund_never_takes_a_counter_below_zero(redis_cluster: RedisCluster6) -> None:
    key = f"auth:limit:ip:{new_account_key()}"

    async def scenario(redis: ServiceRedis) -> tuple[str | None, str | None]:
        await limits.take(redis, 60, {key: 5})
        await limits.take(redis, 60, {key: 5})
        await asyncio.gather(*(limits.refund(redis, [key]) for _ in range(4)))
        after = await redis.get(key)
        await limits.take(redis, 60, {key: 5})
        return after, await redis.get(key)

    # Back at zero the counter is gone (no key kept per account that logged in);
    # the next attempt starts from one, not from below zero.
    assert _run(redis_cluster, scenario) == (None, "1")


def test_of_many_racing_mail_tokens_only_the_newest_works(redis_cluster: RedisCluster6) -> None:
    """Forty racing issues per account, on a fresh client: a record whose SET waits for a connection lags."""

    async def scenario(redis: ServiceRedis) -> tuple[list[int], bool, bool]:
        accounts = [Account(41, new_account_key()) for _ in range(8)]

        async def issue(account: Account) -> str:
            return await mail_tokens.issue(redis, "verify", account, address="a@example.com", ttl=60)

        async def works(token: str) -> bool:
            try:
                await mail_tokens.peek(redis, "verify", token)
            except BadRequest:
                return False
            return True

        issued = await asyncio.gather(*(issue(account) for account in accounts for _ in range(40)))
        alive = [[token for token in issued[n * 40 : n * 40 + 40] if await works(token)] for n in range(8)]
        newest = await issue(accounts[0])
        spent = await mail_tokens.spend(redis, "verify", newest)
        return [len(tokens) for tokens in alive], await works(alive[0][0]), spent.account == accounts[0]

    for _ in range(3):
        alive, survivor_works, newest_spent = _run(redis_cluster, scenario)
        assert alive == [1] * 8
        assert not survivor_works  # a newer token cancels the race's survivor too
        assert newest_spent


def test_a_personal_tokens_check_keys_share_one_slot() -> None:
    hashed = personal.digest("pat_" + "A" * 43)
    assert key_slot(personal._verdict_key(hashed).encode()) == key_slot(personal._used_key(hashed).encode())


def test_a_revocation_waits_for_the_replica_of_the_master_it_wrote_to(redis_cluster: RedisCluster6) -> None:
    async def scenario(redis: ServiceRedis) -> bool:
        await redis.set("{probe}one", "x")
        await wait_for_replicas(redis, "{probe}one")
        await wait_for_replicas(redis)  # every master: each has its replica
        return await ping(redis)

    assert _run(redis_cluster, scenario, redis_replica_acks=1)


def test_a_revocation_no_replica_can_confirm_is_a_503(redis_cluster: RedisCluster6) -> None:
    async def scenario(redis: ServiceRedis) -> None:
        await wait_for_replicas(redis, "{probe}two")

    with pytest.raises(DependencyDown):
        _run(redis_cluster, scenario, redis_replica_acks=2, redis_replica_timeout=0.2)


def test_revoking_no_personal_tokens_waits_on_no_master(redis_cluster: RedisCluster6) -> None:
    async def scenario(redis: ServiceRedis) -> None:
        # A password reset or a deletion of an account without tokens: nothing to fence.
        await personal._tombstone(cast(Runtime, SimpleNamespace(redis=redis)), [], utcnow())

    # No master has two replicas: any wait would be a 503.
    _run(redis_cluster, scenario, redis_replica_acks=2, redis_replica_timeout=0.2)


def test_a_fence_key_for_a_node_that_serves_no_slot_is_a_clear_503(redis_cluster: RedisCluster6) -> None:
    async def scenario(redis: ServiceRedis) -> None:
        cluster = cast(ServiceRedisCluster, redis)
        await cluster.initialize()
        for master in cluster.get_primaries():
            assert cluster.get_node_from_key(redis_cluster_module._fence_key(cluster, master)) == master
        replica = cluster.get_replicas()[0]
        with pytest.raises(ConnectionError, match=f"{replica.name} serves none"):
            redis_cluster_module._fence_key(cluster, replica)

    _run(redis_cluster, scenario)


@pytest.mark.parametrize(
    "url", ["redis+cluster://", "redis+cluster://host:port", "redis+cluster://127.0.0.1:7000/3"]
)
def test_a_malformed_cluster_url_is_refused(url: str) -> None:
    with pytest.raises(SettingsError, match="REDIS_URL"):
        base_settings("sqlite+aiosqlite:///:memory:", url)


def test_the_mail_queue_may_have_a_redis_of_its_own_and_a_malformed_one_is_refused(
    redis_cluster: RedisCluster6,
) -> None:
    own = base_settings(
        "sqlite+aiosqlite:///:memory:", redis_cluster.url, mail_queue_redis_url="redis://q:6379/0"
    )
    assert own.mail_queue_redis_url == "redis://q:6379/0"
    with pytest.raises(SettingsError, match="MAIL_QUEUE_REDIS_URL"):
        base_settings("sqlite+aiosqlite:///:memory:", redis_cluster.url, mail_queue_redis_url="http://q")
