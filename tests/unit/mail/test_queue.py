"""The mail queue itself: Redis down at enqueue time, periodic jobs, a Sentinel failover, a Redis Cluster."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from scripts.redis_cluster import RedisCluster6
from service.errors import DependencyDown
from service.mail import MailBroker, MailSettings, build_broker, enqueue_mail
from service.mail.messages import Sender, password_changed_notice
from service.mail.queue import POOL_SIZE
from service.mail.worker import run_worker
from tests.support.processes import RedisServer, wait_until
from tests.support.sentinel import SentinelCluster
from tests.support.smtp import MailWorker, SmtpSink

SENDER = Sender("Notes <no-reply@notes.test>", "https://notes.test")


def settings_for(redis_url: str, **overrides: object) -> MailSettings:
    values: dict[str, object] = {
        "redis_url": redis_url,
        "public_url": SENDER.public_url,
        "mail_from": SENDER.mail_from,
    }
    return MailSettings(**(values | overrides)).validated()  # type: ignore[arg-type]


async def enqueue(redis_url: str, to: str) -> str:
    broker = build_broker(settings_for(redis_url))
    try:
        return await enqueue_mail(broker, password_changed_notice(SENDER, to))
    finally:
        await broker.close()


def queued(redis_url: str, to: str) -> bool:
    try:
        asyncio.run(enqueue(redis_url, to))
    except DependencyDown:
        return False
    return True


def test_enqueue_with_redis_down_is_a_503_not_a_silent_loss(private_redis: RedisServer) -> None:
    private_redis.stop()
    with pytest.raises(DependencyDown) as raised:
        asyncio.run(enqueue(private_redis.url, "ann@example.com"))
    assert raised.value.status == 503


def test_the_worker_runs_periodic_jobs(private_redis: RedisServer, tmp_path: Path) -> None:
    ticks: list[int] = []

    def add_tasks(broker: MailBroker) -> None:
        async def tick() -> None:
            ticks.append(1)

        broker.task(task_name="test.tick", schedule=[{"interval": 1}])(tick)

    async def run() -> None:
        stop = asyncio.Event()
        worker = asyncio.create_task(
            run_worker(settings_for(private_redis.url, outbox_dir=tmp_path), stop, add_tasks=add_tasks)
        )
        for _ in range(100):
            if len(ticks) >= 2:
                break
            await asyncio.sleep(0.1)
        stop.set()
        await worker

    asyncio.run(run())
    assert len(ticks) >= 2


def test_a_burst_of_mail_past_the_pool_waits_for_connections_on_a_cluster(
    redis_cluster: RedisCluster6,
) -> None:
    queue = f"burst-{uuid.uuid4().hex}"
    burst = POOL_SIZE * 5

    async def send_burst() -> tuple[list[str | BaseException], int]:
        broker = build_broker(settings_for(redis_cluster.url, queue_name=queue))
        try:
            mails = [password_changed_notice(SENDER, f"u{n}@example.com") for n in range(burst)]
            sent = await asyncio.gather(
                *(enqueue_mail(broker, mail) for mail in mails), return_exceptions=True
            )
            assert broker.cluster is not None
            queued = int(await broker.cluster.xlen(broker.queue_name))
            await broker.cluster.delete(broker.queue_name)
            return sent, queued
        finally:
            await broker.close()

    sent, queued = asyncio.run(send_burst())
    # Every request of the burst is queued (none gets 503), each mail once.
    assert [s for s in sent if isinstance(s, BaseException)] == [] and queued == burst


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    server = SmtpSink()
    yield server
    server.stop()


@pytest.fixture
def worker_on(tmp_path: Path) -> Iterator[Callable[[str, int], MailWorker]]:
    started: list[MailWorker] = []

    def start(redis_url: str, smtp_port: int) -> MailWorker:
        environ = {
            "REDIS_URL": redis_url,
            "SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
            "PUBLIC_URL": SENDER.public_url,
            "MAIL_FROM": SENDER.mail_from,
            "APP_ENV": "production",
        }
        started.append(MailWorker(tmp_path / "worker.log", environ))
        return started[-1]

    yield start
    for worker in started:
        worker.stop()


@pytest.mark.slow
def test_through_sentinel_and_across_a_failover(
    sentinel_cluster: SentinelCluster, sink: SmtpSink, worker_on: Callable[[str, int], MailWorker]
) -> None:
    worker_on(sentinel_cluster.url, sink.port)
    asyncio.run(enqueue(sentinel_cluster.url, "before@example.com"))
    sink.wait_for(1)
    old_master = sentinel_cluster.master_port()
    sentinel_cluster.master.kill()
    wait_until(lambda: sentinel_cluster.master_port() != old_master, timeout=30)
    # Until the sentinel vouches for the promoted replica, queueing is a 503; then it works again.
    wait_until(lambda: queued(sentinel_cluster.url, "after@example.com"), timeout=30)
    received = sink.wait_for(2, timeout=30)
    assert [mail.recipients for mail in received] == [["before@example.com"], ["after@example.com"]]


@pytest.mark.slow
def test_on_a_redis_cluster_and_across_a_master_s_failover(
    fresh_redis_cluster: RedisCluster6, sink: SmtpSink, worker_on: Callable[[str, int], MailWorker]
) -> None:
    cluster = fresh_redis_cluster
    worker_on(cluster.url, sink.port)
    asyncio.run(enqueue(cluster.url, "before@example.com"))
    sink.wait_for(1)
    # The stream and the delayed set share the queue's tag: one master holds both.
    queue_master = cluster.master_for_key("{mail}:stream")
    assert cluster.master_for_key("{mail}:delayed") == queue_master
    cluster.kill_master(queue_master)
    cluster.wait_failover(queue_master)
    # Until the client finds the promoted replica, queueing is a 503; then it works again.
    wait_until(lambda: queued(cluster.url, "after@example.com"), timeout=30)
    received = sink.wait_for(2, timeout=30)
    assert [mail.recipients for mail in received] == [["before@example.com"], ["after@example.com"]]
