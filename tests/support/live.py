"""A real hypercorn server in the test process, on its own event loop thread.

Requests travel over real HTTP, through the same ASGI adapter, lifespan and
pools as production; being in-process lets tests look at the runtime state
(how many engines, which loop) afterwards.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import httpx
from flask import Flask
from hypercorn.asyncio import serve
from hypercorn.config import Config

from config.settings import Settings
from service import create_app
from service.serving.app import ServiceAsgi
from tests.support.processes import free_port, wait_until


class LiveServer:
    def __init__(self, settings: Settings, configure: Callable[[Flask], None] | None = None) -> None:
        self.settings = settings
        app = create_app(settings)
        if configure is not None:
            configure(app)  # tests may add routes, e.g. one that fails on purpose
        self.asgi = ServiceAsgi(app)
        self.runtime = self.asgi.runtime
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        self._stopping: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._serve, name=f"hypercorn-{self.port}", daemon=True)
        self._thread.start()
        wait_until(self._healthy, timeout=20)

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        config = Config()
        config.bind = [f"127.0.0.1:{self.port}"]
        config.graceful_timeout = self.settings.graceful_timeout
        config.read_timeout = self.settings.read_timeout
        config.keep_alive_timeout = self.settings.keep_alive_timeout
        config.backlog = 1024
        config.accesslog = None
        config.errorlog = None

        async def main() -> None:
            self._stopping = asyncio.Event()
            await serve(self.asgi, config, shutdown_trigger=self._stopping.wait)

        self.loop.run_until_complete(main())
        self.loop.close()

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self._stopping is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(30)
