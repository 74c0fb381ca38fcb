"""A TCP relay in front of a real Redis that counts round trips: how often a client speaks and waits.

A round trip starts when a client sends bytes after it has heard back (or
for the first time) on that connection; a pipeline's commands, sent before
any reply arrives, count once. The bytes themselves pass untouched.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from tests.support.processes import free_port


class RoundTripCounter:
    """Relays 127.0.0.1:<port> to a Redis URL's host and port; ``count`` is the round trips so far."""

    def __init__(self, redis_url: str) -> None:
        parts = urlsplit(redis_url)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 6379)
        self.port = free_port()
        self.url = urlunsplit(parts._replace(netloc=f"127.0.0.1:{self.port}"))
        self.count = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"round-trips-{self.port}")
        self._thread.daemon = True
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _shutdown(self) -> None:
        # Relayed connections are ended and their sockets closed here: a loop
        # stopped with them pending leaves unclosed streams for a later test's
        # garbage collection to report.
        self._server.close()
        pending = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await asyncio.sleep(0.05)  # the transports' close callbacks

    async def _listen(self) -> asyncio.Server:
        return await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.close()
            return
        waiting = [False]  # this connection has sent and not yet heard back

        async def requests() -> None:
            while data := await client_reader.read(65536):
                if not waiting[0]:
                    waiting[0] = True
                    with self._lock:
                        self.count += 1
                upstream_writer.write(data)
                await upstream_writer.drain()

        async def replies() -> None:
            while data := await upstream_reader.read(65536):
                waiting[0] = False
                client_writer.write(data)
                await client_writer.drain()

        try:
            await asyncio.gather(requests(), replies())
        except (ConnectionError, OSError):
            pass
        finally:
            client_writer.close()
            upstream_writer.close()


@contextmanager
def counted_client(
    make_server: Callable[..., Any], redis_url: str, **settings: Any
) -> Iterator[tuple[httpx.Client, RoundTripCounter]]:
    """A client of a live server (``make_server``'s) whose Redis traffic passes through a counter."""
    counter = RoundTripCounter(redis_url)
    try:
        server = make_server(redis_url=counter.url, **settings)
        with httpx.Client(base_url=server.url, timeout=30) as client:
            yield client, counter
    finally:
        counter.close()
