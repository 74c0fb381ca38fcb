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
hypercorn 0.18.0: ``TCPServer._idle_timeout()`` (re-implemented without its
wait on ``context.terminated``; it calls ``_initiate_server_close``),
``TCPServer._read_data()`` (extended: the ``idle_task`` is stopped once the
peer has closed, or a connection it closed would wait out the timer), and the
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

import h11
import hypercorn.asyncio.run
import hypercorn.protocol
from hypercorn.asyncio.tcp_server import TCPServer
from hypercorn.events import Closed, Updated
from hypercorn.protocol.events import Event as StreamEvent
from hypercorn.protocol.events import Response

from service.serving.hypercorn_h11 import ProblemH11Protocol

HYPERCORN_CHECKED = "0.18.0"
_CLOSE = (b"connection", b"close")


class DrainingTCPServer(TCPServer):
    """``TCPServer`` whose idle connections outlive SIGTERM by up to KEEP_ALIVE_TIMEOUT."""

    async def _read_data(self) -> None:
        await super()._read_data()
        # Nothing more can arrive: end now instead of when the idle timer
        # does (hypercorn's timer ended such a connection at shutdown, ours no longer does).
        await self.idle_task.stop()

    async def _idle_timeout(self) -> None:
        # hypercorn also wakes on context.terminated, closing the connection
        # under a request the proxy may be sending on it.
        await asyncio.sleep(self.config.keep_alive_timeout)
        await asyncio.shield(self._initiate_server_close())


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
