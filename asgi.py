"""The ASGI entry point: ``python -m hypercorn --config python:config.hypercorn asgi:app``."""

import multiprocessing
import signal

from config.settings import load_settings_or_exit
from service import create_app
from service.asgi import ServiceAsgi

if multiprocessing.parent_process() is not None:
    # A hypercorn worker. Its master stops workers through a shared event
    # (graceful, bounded by GRACEFUL_TIMEOUT), but as soon as the first worker
    # has exited it SIGTERMs the rest (hypercorn 0.18 run.py), dropping their
    # in-flight requests. Hypercorn already has workers ignore SIGINT for the
    # same reason; ignoring SIGTERM too lets every worker finish.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

app = ServiceAsgi(create_app(load_settings_or_exit()))
