"""The mail worker: ``python -m service.mail.worker`` (the service's settings, config/settings.py).

It runs taskiq's receiver on the mail queue, and taskiq's scheduler for the
tasks that carry a ``schedule`` label (periodic jobs such as pruning). Every
worker runs the scheduler, so a periodic job must be safe to run twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from multiprocessing.connection import Connection

from taskiq import TaskiqScheduler
from taskiq.acks import AcknowledgeType
from taskiq.api import run_receiver_task, run_scheduler_task
from taskiq.schedule_sources import LabelScheduleSource

from config.settings import Settings
from service.auth.events.pruning import add_pruning
from service.logs import configure_process_logging, load_settings_or_log
from service.mail.queue import MailBroker, build_broker
from service.mail.settings import MailSettings

log = logging.getLogger("service.mail")


async def run_worker(
    settings: MailSettings,
    stop: asyncio.Event | None = None,
    concurrency: int = 20,
    add_tasks: Callable[[MailBroker], None] | None = None,
) -> None:
    """Deliver queued mail until ``stop`` is set (or SIGTERM/SIGINT when run as a program).

    ``add_tasks`` registers more tasks on the broker first, e.g. a periodic one:
    ``broker.task(task_name="events.prune", schedule=[{"cron": "17 * * * *"}])(prune)``.
    """
    stop = stop or asyncio.Event()
    broker = build_broker(settings)
    if add_tasks is not None:
        add_tasks(broker)
    await broker.startup()
    scheduler = TaskiqScheduler(broker, sources=[LabelScheduleSource(broker)])
    target = settings.smtp
    log.info("mail worker started: %s", repr(target) if target else f"outbox {settings.outbox_dir}")
    tasks = [
        # Acknowledged only once the attempt is over: a worker killed mid-send leaves the mail pending.
        asyncio.create_task(
            run_receiver_task(broker, max_async_tasks=concurrency, ack_time=AcknowledgeType.WHEN_EXECUTED)
        ),
        asyncio.create_task(run_scheduler_task(scheduler)),
    ]
    try:
        await stop.wait()
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await broker.shutdown()
        await broker.close()
        log.info("mail worker stopped")


def run_beside_server(stop_reader: Connection, settings: Settings) -> None:
    """The worker as a child of serve.py's master (``--mail-worker``): it stops when ``stop_reader``
    turns readable, i.e. when the master stops its workers or dies."""
    logging.getLogger("taskiq").setLevel(logging.WARNING)
    mail = MailSettings.from_settings(settings).validated()

    async def run() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_reader(stop_reader.fileno(), stop.set)
        # Every worker also runs the hourly pruning of security events.
        await run_worker(mail, stop, add_tasks=add_pruning(settings))

    asyncio.run(run())


async def _main(settings: MailSettings, service_settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await run_worker(settings, stop, add_tasks=add_pruning(service_settings))


def main() -> None:
    # A bad setting: one CRITICAL JSON line and status 2, as for the server.
    service_settings = load_settings_or_log()
    configure_process_logging(service_settings.log_level)
    # taskiq logs each task's id at INFO; its DEBUG lines would show the mail (and its links).
    logging.getLogger("taskiq").setLevel(logging.WARNING)
    try:
        mail = MailSettings.from_settings(service_settings).validated()
    except ValueError as error:  # a setting refused: say which, without a traceback
        log.critical("mail worker: %s", error)
        raise SystemExit(2) from None
    asyncio.run(_main(mail, service_settings))


if __name__ == "__main__":
    main()
