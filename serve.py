"""Serve the ASGI app with hypercorn, each worker on a listening socket of its own.

``python serve.py [module:app]`` (default ``asgi:app``) takes the
place of ``python -m hypercorn --config python:config.hypercorn asgi:app``:
same settings (config/hypercorn.py), same workers (hypercorn's own), another
master. Hypercorn's master binds one socket and hands it to every worker, and
the workers race for its connections: at 64 keep-alive connections one worker
held 36, at 512 one held 372 of them (asyncio loop), and every request on the
fuller worker waited that much longer. Here no socket is handed down, so each
worker binds its own with SO_REUSEPORT (hypercorn does so when a worker gets
none and there is more than one), and the kernel spreads new connections
evenly across the workers' sockets.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from multiprocessing.connection import wait
from multiprocessing.synchronize import Event

from hypercorn.asyncio.run import asyncio_worker, uvloop_worker
from hypercorn.config import Config

from service.logs import configure_process_logging, load_settings_or_log, run_logged

DEFAULT_APP = "asgi:app"


class _Stop:
    """The workers' shutdown event, which a worker also finds set once its master is gone.

    Hypercorn's worker polls ``is_set()`` (every 0.1 s). A master killed with
    SIGKILL never sets the event: its workers would go on serving, unsupervised,
    beside the instance a supervisor starts next on the same port. Here they
    stop as gracefully as on SIGTERM.
    """

    def __init__(self, event: Event, master: int) -> None:
        self.event = event
        self.master = master

    def is_set(self) -> bool:
        return self.event.is_set() or os.getppid() != self.master

    def set(self) -> None:
        self.event.set()


def main(argv: list[str]) -> int:
    """Run the workers until SIGTERM or SIGINT, or until one of them exits."""
    settings = load_settings_or_log()
    configure_process_logging(settings.log_level)  # the master's own lines and crash as JSON too
    config = Config.from_object("config.hypercorn")
    config.application_path = argv[0] if argv else DEFAULT_APP
    worker = uvloop_worker if config.worker_class == "uvloop" else asyncio_worker
    context = multiprocessing.get_context("spawn")
    stop = _Stop(context.Event(), os.getpid())
    # Workers inherit an ignored SIGINT (a terminal's Ctrl-C reaches the whole
    # group): the master alone decides, through ``stop``, and each worker then
    # finishes its requests within GRACEFUL_TIMEOUT (asgi.py ignores SIGTERM).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    workers = [
        context.Process(
            target=run_logged,
            args=(worker, settings.log_level),
            kwargs={"config": config, "sockets": None, "shutdown_event": stop},
        )
        for _ in range(config.workers)
    ]
    for process in workers:
        process.start()

    def request_stop(*_: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    # One worker gone (it could not bind or start, or it crashed) takes the
    # service down, as with hypercorn's master: a supervisor restarts it whole.
    wait([process.sentinel for process in workers])
    unexpected = not stop.is_set()
    stop.set()
    for process in workers:
        process.join(config.graceful_timeout + 5)
    for process in workers:
        if process.is_alive():
            process.kill()
            process.join()
    return 1 if unexpected or any(process.exitcode for process in workers) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
