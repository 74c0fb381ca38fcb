"""A worker stopping on SIGTERM drains its keep-alive connections instead of cutting them.

Hypercorn, on SIGTERM, closes every idle keep-alive connection at once. A
proxy that keeps connections open to us (nginx's upstream ``keepalive``) may
have just sent a request on one: it gets a reset, and it does not resend a
POST, whose effect it cannot know. Here, after SIGTERM, an idle connection
stays open until its KEEP_ALIVE_TIMEOUT runs out, as it would have anyway;
a request arriving on it is served and answered with ``Connection: close``,
and the connection closes after that answer. Every answer given after
SIGTERM says ``Connection: close``, and a connection whose answer went out
before it (without one) is kept idle, not closed under the proxy's next
request. The listening socket still closes at once, so new connections are
refused, and a refused connection is never a sent request: nginx retries it
on another instance (``proxy_next_upstream error``). The worker waits for
these connections within GRACEFUL_TIMEOUT, which must therefore be at least
KEEP_ALIVE_TIMEOUT (config/settings.py refuses less). docs/deployment.md,
"Key rotation".

This module owns our override of hypercorn's internals, checked against
hypercorn 0.18.0: ``TCPServer.idle_task`` (replaced by a timer with the
``restart(task_group, action)`` and ``stop()`` that ``TCPServer`` and its
``protocol_send`` call; it calls ``_initiate_server_close``, without
hypercorn's wait on ``context.terminated``), ``TCPServer._read_data()``
(re-implemented: its loop with ``asyncio.timeout``, then the ``idle_task``
is stopped once the peer has closed, or a connection it closed would wait
out the timer), and the
module global ``hypercorn.asyncio.run.TCPServer`` its ``worker_serve``
instantiates per connection; ``H11Protocol.stream_send(event)`` (a final
``Response`` event given a ``connection: close`` header once
``context.terminated`` is set) and ``H11Protocol._maybe_recycle()``
(re-implemented without its ``context.terminated`` test: the ``connection``,
``can_read``, ``send`` and ``_close_stream`` it uses); and the module global
``hypercorn.protocol.H11Protocol`` its ``ProtocolWrapper`` instantiates, set to a
subclass of hypercorn_h11's class (so this is the one install of both).
"""

from __future__ import annotations

import asyncio
import dataclasses
from ssl import SSLError

import h11
import hypercorn.asyncio.run
import hypercorn.protocol
from hypercorn.asyncio.tcp_server import MAX_RECV, TCPServer
from hypercorn.asyncio.worker_context import WorkerContext
from hypercorn.config import Config
from hypercorn.events import Closed, RawData, Updated
from hypercorn.protocol.events import Event as StreamEvent
from hypercorn.protocol.events import Response
from hypercorn.typing import AppWrapper, LifespanState

from service.serving.hypercorn_h11 import ProblemH11Protocol

HYPERCORN_CHECKED = "0.18.0"
_CLOSE = (b"connection", b"close")


class DrainingTCPServer(TCPServer):
    """``TCPServer`` whose idle connections outlive SIGTERM by up to KEEP_ALIVE_TIMEOUT."""

    def __init__(
        self,
        app: AppWrapper,
        loop: asyncio.AbstractEventLoop,
        config: Config,
        context: WorkerContext,
        state: LifespanState,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        super().__init__(app, loop, config, context, state, reader, writer)
        self.idle_task = _IdleTimer(self)  # type: ignore[assignment]

    async def _read_data(self) -> None:
        # hypercorn's loop, each read bounded by asyncio.timeout rather than
        # wait_for, which made a task per read (one per request).
        while not self.reader.at_eof():
            try:
                async with asyncio.timeout(self.config.read_timeout):
                    data = await self.reader.read(MAX_RECV)
            except (ConnectionError, OSError, TimeoutError, SSLError):
                break
            await self.protocol.handle(RawData(data))
        await self.protocol.handle(Closed())
        # Nothing more can arrive: end now instead of when the idle timer
        # does (hypercorn's timer ended such a connection at shutdown, ours no longer does).
        await self.idle_task.stop()


class _IdleTimer:
    """``AsyncioSingleTask`` as the idle timer uses it, one timer handle instead of a task per request.

    hypercorn stops the timer when a request arrives and restarts it after
    the answer: a task cancelled and awaited, and a new one, every request.
    When it runs out, the connection closes, as hypercorn's ``_idle_timeout``
    does, but not at SIGTERM (hypercorn also wakes on ``context.terminated``,
    closing the connection under a request the proxy may be sending on it).
    """

    __slots__ = ("_closing", "_handle", "_server")

    def __init__(self, server: DrainingTCPServer) -> None:
        self._server = server
        self._handle: asyncio.TimerHandle | None = None
        self._closing: asyncio.Task[None] | None = None

    async def restart(self, _task_group: object, _action: object) -> None:
        if self._handle is not None:
            self._handle.cancel()
        loop = asyncio.get_running_loop()
        self._handle = loop.call_later(self._server.config.keep_alive_timeout, self._expire)

    async def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _expire(self) -> None:
        self._handle = None
        # A task of its own, kept here until done, as hypercorn shields it.
        self._closing = asyncio.get_running_loop().create_task(self._server._initiate_server_close())


class DrainingH11Protocol(ProblemH11Protocol):
    """``ProblemH11Protocol`` that ends each connection with a ``Connection: close`` once stopping."""

    async def stream_send(self, event: StreamEvent) -> None:
        stopping = self.context.terminated.is_set()
        if stopping and isinstance(event, Response) and event.status_code >= 200 and not _closes(event):
            event = dataclasses.replace(event, headers=[*event.headers, _CLOSE])
        await super().stream_send(event)

    async def _maybe_recycle(self) -> None:
        await self._close_stream()
        # Both DONE means the answer did not say close: the proxy may reuse the
        # connection at once, so it stays open (idle) even when stopping.
        if self.connection.our_state is h11.DONE and self.connection.their_state is h11.DONE:
            try:
                self.connection.start_next_cycle()
            except h11.LocalProtocolError:
                await self.send(Closed())
            else:
                await self.can_read.set()
                await self.send(Updated(idle=True))
        else:
            await self.can_read.set()
            await self.send(Closed())


def _closes(response: Response) -> bool:
    """Whether the response already says ``Connection: close`` (a refusal does)."""
    return any(
        name.lower() == b"connection" and b"close" in value.lower() for name, value in response.headers
    )


def install() -> None:
    """Make hypercorn serve with ``DrainingTCPServer`` and ``DrainingH11Protocol`` (idempotent)."""
    hypercorn.asyncio.run.TCPServer = DrainingTCPServer  # type: ignore[attr-defined]
    hypercorn.protocol.H11Protocol = DrainingH11Protocol  # type: ignore[attr-defined]
