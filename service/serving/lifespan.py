"""ASGI lifespan: the process's pools open on the server's loop at start and close at stop."""

from __future__ import annotations

import logging
from typing import Any

from service.serving.heap import freeze_startup_objects
from service.serving.runtime import Runtime

log = logging.getLogger("service.asgi")


async def run_lifespan(runtime: Runtime, receive: Any, send: Any) -> None:
    """Answer the server's startup and shutdown messages."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                await runtime.open()
            except Exception as error:
                log.exception("startup failed")
                await send({"type": "lifespan.startup.failed", "message": str(error)})
                return
            freeze_startup_objects()  # last: the pools' objects live as long as the process
            log.info("pools open")
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await runtime.close()
            log.info("pools closed")
            await send({"type": "lifespan.shutdown.complete"})
            return
