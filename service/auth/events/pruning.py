"""The scheduled job that prunes security events: a periodic task on the mail worker's queue.

taskiq's scheduler in every mail worker kicks the task onto the queue every
``interval`` seconds, and a worker runs it; with several workers it may run
more than once per interval, which is harmless (deleting what is already
gone deletes nothing). ``python -m service prune-events`` does the same at
an operator's command.
"""

from __future__ import annotations

from collections.abc import Callable

from config.settings import Settings
from service.auth.events import records as events
from service.db import Database
from service.mail.queue import MailBroker

PRUNE_TASK = "events.prune"
HOURLY = 3600


def add_pruning(settings: Settings, interval: int = HOURLY) -> Callable[[MailBroker], None]:
    """What registers the pruning task on a worker's broker (``run_worker``'s ``add_tasks``)."""

    def add(broker: MailBroker) -> None:
        @broker.task(task_name=PRUNE_TASK, schedule=[{"interval": interval}])
        async def prune_events() -> int:
            db = Database(settings)
            try:
                return await events.prune(db, settings.event_retention_days)
            finally:
                await db.close()

    return add
