"""A TCP proxy that delays every chunk by a fixed time in each direction.

``python bench/proxy.py LISTEN_PORT TARGET_HOST:TARGET_PORT DELAY_MS`` puts a
dependency "one network hop away": with 1 ms each way, every round trip
through it costs 2 ms more, while many requests stay in flight at once (a
delay, not a bandwidth limit). Chunks keep their order per direction.
"""

from __future__ import annotations

import asyncio
import collections
import socket
import sys
from typing import Any

try:
    import uvloop
except ImportError:  # the proxy still works, only slower
    uvloop = None


class _Delayed(asyncio.Protocol):
    """One direction's sink: writes each chunk ``delay`` seconds after it arrived."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.queue: collections.deque[tuple[float, bytes]] = collections.deque()
        self.peer: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.closing = False

    def push(self, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        self.queue.append((loop.time() + self.delay, data))
        if self.timer is None:
            self.timer = loop.call_at(self.queue[0][0], self._flush)

    def close_after_queue(self) -> None:
        self.closing = True
        if not self.queue and self.peer is not None:
            self.peer.close()

    def attach(self, peer: asyncio.Transport) -> None:
        self.peer = peer
        if self.queue and self.timer is None:
            self.timer = asyncio.get_running_loop().call_at(self.queue[0][0], self._flush)

    def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self.peer is None:  # the upstream connection is not up yet: attach() resumes
            self.timer = None
            return
        while self.queue and self.queue[0][0] <= now:
            _, data = self.queue.popleft()
            if self.peer is not None and not self.peer.is_closing():
                self.peer.write(data)
        self.timer = loop.call_at(self.queue[0][0], self._flush) if self.queue else None
        if not self.queue and self.closing and self.peer is not None:
            self.peer.close()


class _Side(asyncio.Protocol):
    """One socket of a proxied pair; what it reads goes to the other side, late."""

    def __init__(self, outbound: _Delayed, inbound: _Delayed, on_made: Any = None) -> None:
        self.outbound = outbound  # carries what this side reads
        self.inbound = inbound  # writes into this side's transport
        self.on_made = on_made

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.inbound.attach(transport)  # type: ignore[arg-type]
        if self.on_made is not None:
            asyncio.get_running_loop().create_task(self.on_made(transport))

    def data_received(self, data: bytes) -> None:
        self.outbound.push(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.outbound.close_after_queue()


async def serve(listen_port: int, host: str, port: int, delay: float) -> None:
    loop = asyncio.get_running_loop()

    def client_factory() -> asyncio.Protocol:
        to_server, to_client = _Delayed(delay), _Delayed(delay)

        async def connect_upstream(client_transport: asyncio.Transport) -> None:
            try:
                await loop.create_connection(lambda: _Side(to_client, to_server), host, port)
            except OSError:
                client_transport.close()

        return _Side(to_server, to_client, on_made=connect_upstream)

    server = await loop.create_server(client_factory, "127.0.0.1", listen_port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    listen_port, target, delay_ms = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    host, _, port = target.rpartition(":")
    runner = uvloop.run if uvloop is not None else asyncio.run
    runner(serve(listen_port, host, int(port), delay_ms / 1000))


if __name__ == "__main__":
    main()
