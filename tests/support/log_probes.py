"""The service's app plus routes that make libraries, the loop and threads log, for tests/unit/test_logs.py.

``python serve.py tests.support.log_probes:app`` serves it exactly as
``asgi:app`` is served (same adapter, same hypercorn workers).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import warnings

from config.settings import load_settings_or_exit
from service import create_app
from service.serving.app import ServiceAsgi

flask_app = create_app(load_settings_or_exit())


async def _domain_code() -> None:
    await asyncio.sleep(0.01)  # a real suspension: the loop runs other tasks meanwhile
    logging.getLogger("service.probe").error("from async code awaited by a view")


def _callback_that_fails() -> None:
    raise RuntimeError("a loop callback failed")


def _thread_that_fails() -> None:
    raise RuntimeError("a thread failed")


@flask_app.get("/probe/noise")
async def noise() -> dict[str, str]:
    warnings.warn("a library's warning", UserWarning, stacklevel=1)
    logging.getLogger("somelibrary").warning("a library's own log line")
    logging.getLogger("service.probe").info("from the view")
    await _domain_code()
    asyncio.get_running_loop().call_soon(_callback_that_fails)  # to the loop's exception handler
    return {"status": "noisy"}


@flask_app.get("/probe/thread")
def thread() -> dict[str, str]:
    worker = threading.Thread(target=_thread_that_fails, name="probe-thread")
    worker.start()
    worker.join()
    return {"status": "done"}


@flask_app.get("/probe/crash")
async def crash() -> dict[str, str]:
    await asyncio.sleep(0)
    raise RuntimeError("a bug in a view")


app = ServiceAsgi(flask_app)
