"""A TCP proxy the test controls, to cut Redis or the database for real.

The service talks to its dependency through the proxy; the test switches the
proxy between modes while requests are served:

* ``pass``: bytes flow both ways.
* ``refuse``: the listening socket is closed (new connections are refused) and
  live connections are reset, as when the dependency's process is gone.
* ``reset``: live connections are reset at once; new ones are accepted and
  reset as soon as the client sends its first bytes (mid-request).
* ``hang``: nothing is forwarded any more, on live and new connections alike,
  as with a network partition or a frozen process (a blackhole).

Switching back to ``pass`` resets the connections that were hung, since the
bytes they swallowed are lost, and listens again on the same port.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy import make_url
from sqlalchemy.exc import SQLAlchemyError

from tests.support.databases import run_admin
from tests.support.processes import free_port, migrate

Mode = Literal["pass", "refuse", "reset", "hang"]
MODES = ("pass", "refuse", "reset", "hang")


class FaultProxy:
    """Forwards 127.0.0.1:<port> to ``target_host:target_port`` in a mode the test sets."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.mode: Mode = "pass"
        self._links: set[_Link] = set()
        self._server: asyncio.Server | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"fault-proxy-{self.port}")
        self._thread.daemon = True
        self._thread.start()
        self._call(self._listen())

    @classmethod
    def for_url(cls, url: str) -> FaultProxy:
        """A proxy in front of the host and port of a redis:// or database URL."""
        parts = urlsplit(url)
        return cls(parts.hostname or "127.0.0.1", parts.port or _DEFAULT_PORTS[parts.scheme.split("+")[0]])

    def url_through(self, url: str) -> str:
        """``url`` with its host and port replaced by the proxy's."""
        parts = urlsplit(url)
        credentials = parts.netloc.rpartition("@")[0]
        netloc = f"{credentials}@127.0.0.1:{self.port}" if credentials else f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    def set_mode(self, mode: Mode) -> None:
        """Switch modes; returns once live connections have been dealt with."""
        assert mode in MODES, mode
        self._call(self._switch(mode))

    @contextmanager
    def fault(self, mode: Mode) -> Iterator[FaultProxy]:
        """``mode`` inside the block, ``pass`` after it."""
        self.set_mode(mode)
        try:
            yield self
        finally:
            self.set_mode("pass")

    def close(self) -> None:
        self._call(self._switch("refuse"))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    # Everything below runs on the proxy's own loop.

    def _call(self, coroutine: object) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)  # type: ignore[arg-type]

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(
                self._accept, "127.0.0.1", self.port, reuse_address=True
            )

    async def _switch(self, mode: Mode) -> None:
        previous, self.mode = self.mode, mode
        if mode == "refuse" and self._server is not None:
            self._server.close()
            self._server = None
        if mode in ("refuse", "reset") or (mode == "pass" and previous == "hang"):
            for link in list(self._links):
                link.reset()
        if mode != "refuse":
            await self._listen()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        link = _Link(client_writer)
        self._links.add(link)
        try:
            if self.mode == "hang":
                while await client_reader.read(65536):
                    pass  # swallow everything until the client gives up
                return
            if self.mode == "reset":
                await client_reader.read(1)  # let the request start, then cut it
                return
            try:
                upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
            except OSError:
                return
            link.upstream = upstream_writer
            await asyncio.gather(
                self._pump(client_reader, upstream_writer, link),
                self._pump(upstream_reader, client_writer, link),
            )
        finally:
            link.reset()
            self._links.discard(link)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: _Link) -> None:
        try:
            while data := await reader.read(65536):
                if self.mode == "hang":
                    continue  # the blackhole: bytes go nowhere
                if self.mode != "pass":
                    break
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        link.reset()


class _Link:
    """One proxied connection: the client side and, once connected, the upstream side."""

    def __init__(self, client: asyncio.StreamWriter) -> None:
        self.client = client
        self.upstream: asyncio.StreamWriter | None = None

    def reset(self) -> None:
        """Abort both sides with a TCP RST rather than an orderly FIN."""
        for writer in (self.client, self.upstream):
            if writer is None or writer.transport.is_closing():
                continue
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()


_DEFAULT_PORTS = {"redis": 6379, "postgresql": 5432}


DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


@contextmanager
def postgres_database() -> Iterator[str]:
    """A migrated PostgreSQL database of this test's own, dropped afterwards.

    On TEST_DATABASE_URL's server, else the machine's at 127.0.0.1:5432; skips
    the test when neither answers. Only what the fault tests need: the suite's
    general PostgreSQL fixtures live elsewhere.
    """
    admin = make_url(os.environ.get("TEST_DATABASE_URL") or DEFAULT_POSTGRES).set(database="postgres")
    name = f"faults_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        run_admin(admin, f'CREATE DATABASE "{name}"')
    except (OSError, SQLAlchemyError) as error:
        pytest.skip(f"no PostgreSQL to cut: {type(error).__name__}")
    try:
        url = admin.set(database=name).render_as_string(hide_password=False)
        migrate(url)
        yield url
    finally:
        run_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
