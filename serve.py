"""Serve the ASGI app with hypercorn, each worker on a listening socket of its own.

``python serve.py [--mail-worker] [module:app]`` (default ``asgi:app``) takes the place of
``python -m hypercorn --config python:config.hypercorn asgi:app``: same
settings (config/hypercorn.py), same workers (hypercorn's own), another
master. No socket is handed down: each worker binds its own with SO_REUSEPORT
and the kernel spreads new connections evenly over them (README, the tail).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any

from hypercorn.asyncio.run import asyncio_worker, uvloop_worker
from hypercorn.config import Config

from config.startup import StartupError, check_startup
from service.logs import configure_process_logging, load_settings_or_log, run_logged

DEFAULT_APP = "asgi:app"
log = logging.getLogger("service.serve")
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


class _Stop:
    """The workers' shutdown event: a pipe whose only write end the master holds.

    Hypercorn's worker polls ``is_set()`` every 0.1 s. The read end turns
    readable (end of file) when the master closes the write end, and also when
    the master dies, even by SIGKILL: workers never serve on unsupervised. Unlike
    ``multiprocessing.Event`` it takes no lock, so nothing the master does, or
    a signal interrupts, can leave a worker blocked in its poll.
    """

    def __init__(self, context: Any) -> None:
        self.reader, self.writer = context.Pipe(duplex=False)

    def __getstate__(self) -> dict[str, Connection]:
        # Only the read end goes to a worker: a write end held there would
        # keep the pipe open after the master is gone.
        return {"reader": self.reader}

    def is_set(self) -> bool:
        return bool(self.reader.poll())

    def set(self) -> None:
        if not self.writer.closed:
            self.writer.close()


class _Requested:
    """Whether SIGTERM or SIGINT has arrived; the signal handler does nothing else.

    A handler can run between any two bytecodes of the master, inside another
    handler too: it must not take a lock or stop anything itself. The wakeup
    fd (written by the interpreter when a signal arrives) wakes the main loop,
    which does the stopping.
    """

    def __init__(self) -> None:
        self.stop = False
        self.wakeup, writer = os.pipe()
        os.set_blocking(self.wakeup, False)
        os.set_blocking(writer, False)
        signal.set_wakeup_fd(writer, warn_on_full_buffer=False)
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._handle)

    def _handle(self, *_: object) -> None:
        self.stop = True

    def drain(self) -> None:
        try:
            while os.read(self.wakeup, 512):
                pass
        except BlockingIOError:
            pass


def _worker(serve: Callable[..., None], config: Config, shutdown_event: _Stop) -> None:
    """One worker: deaf to SIGINT and SIGTERM, which only the master acts on."""
    # Ignored, not merely blocked as at spawn: a library may unblock them
    # (multiprocessing's resource tracker does, around its own start), and
    # asyncio.Runner turns a SIGINT it can see into a KeyboardInterrupt.
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    serve(config=config, sockets=None, shutdown_event=shutdown_event)


def _mail_worker(settings: Any, shutdown_event: _Stop) -> None:
    """The mail worker, deaf to signals like the others: it stops with ``shutdown_event``."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    from service.mail.worker import run_beside_server

    run_beside_server(shutdown_event.reader, settings)


def main(argv: list[str]) -> int:
    """Run the workers until SIGTERM or SIGINT, or until one of them exits."""
    # --mail-worker (`make run`): the mail worker runs as one more child, started and stopped with the rest.
    with_mail = "--mail-worker" in argv
    argv = [arg for arg in argv if arg != "--mail-worker"]
    settings = load_settings_or_log()
    configure_process_logging(settings.log_level)  # the master's own lines and crash as JSON too
    try:
        check_startup(settings)
    except StartupError as error:
        log.critical("cannot start: %s", error)
        return 2
    config = Config.from_object("config.hypercorn")
    config.application_path = argv[0] if argv else DEFAULT_APP
    worker = uvloop_worker if config.worker_class == "uvloop" else asyncio_worker
    context = multiprocessing.get_context("spawn")
    stop = _Stop(context)
    requested = _Requested()
    # A terminal's Ctrl-C or a kill of the whole group reaches every worker,
    # but only the master decides, through ``stop``; each worker then finishes
    # its requests within GRACEFUL_TIMEOUT. The workers start with SIGINT and
    # SIGTERM blocked (a child inherits the signal mask) until they ignore
    # them; one arriving here meanwhile waits for the master's unblock below.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    workers = [
        context.Process(
            target=run_logged,
            args=(_worker, settings.log_level),
            kwargs={"serve": worker, "config": config, "shutdown_event": stop},
        )
        for _ in range(config.workers)
    ]
    if with_mail:
        workers.append(
            context.Process(
                target=run_logged,
                args=(_mail_worker, settings.log_level),
                kwargs={"settings": settings, "shutdown_event": stop},
                name="mail-worker",
            )
        )
    try:
        for process in workers:
            process.start()
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    # One worker gone (it could not bind or start, or it crashed) takes the
    # service down, as with hypercorn's master: a supervisor restarts it whole.
    sentinels = [process.sentinel for process in workers]
    while not requested.stop:
        ready = wait([requested.wakeup, *sentinels])
        requested.drain()
        if any(sentinel in ready for sentinel in sentinels):
            break
    unexpected = not requested.stop
    stop.set()
    deadline = time.monotonic() + config.graceful_timeout + 5
    for process in workers:
        process.join(max(0.0, deadline - time.monotonic()))
    for process in workers:
        if process.is_alive():
            process.kill()
            process.join()
    return 1 if unexpected or any(process.exitcode for process in workers) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
