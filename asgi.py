"""The ASGI entry point, served by ``python serve.py`` (hypercorn's workers)."""

import multiprocessing
import signal

from config.settings import load_settings_or_exit
from service import create_app
from service.serving.app import ServiceAsgi

if multiprocessing.parent_process() is not None:
    # A worker process. Its master (serve.py, or hypercorn's own) stops the
    # workers through a shared event, graceful within GRACEFUL_TIMEOUT. A
    # SIGTERM reaching a worker directly (hypercorn 0.18's master sends one
    # to the rest as soon as the first has exited; an init system may signal
    # the whole group) would drop its in-flight requests, so it is ignored,
    # as SIGINT already is.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

app = ServiceAsgi(create_app(load_settings_or_exit()))
