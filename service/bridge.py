"""Run Flask's synchronous layer on the event loop, suspending it with greenlets.

Flask calls async views through ``ensure_sync`` -> ``async_to_sync``, which
needs a thread to block; that costs a hop to a worker thread, a hop back to
the loop for the view, and one more for every ``send``, and the threads then
fight the loop for the GIL. Here the WSGI call runs in a greenlet on the
loop's own thread instead: where it would block on a coroutine,
``wait_for`` switches to the loop, which awaits the coroutine and switches
back with its result (the mechanism SQLAlchemy's asyncio layer is built on).

The greenlet shares the context of the request's task, so Flask's request
context is visible to the coroutines it awaits, and requests stay isolated
from each other as tasks are. Blocking calls in the synchronous layer would
stall the loop: code there must not do I/O except through ``wait_for``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis
from greenlet import getcurrent, greenlet
from redis.client import NEVER_DECODE

T = TypeVar("T")


class _Bridged(greenlet):  # type: ignore[misc]
    """A greenlet whose parent is a coroutine on the loop, ready to await for it."""


async def run_bridged(function: Callable[..., T], *args: Any) -> T:
    """Call ``function`` on this thread; every ``wait_for`` inside it is awaited here."""
    child = _Bridged(function, getcurrent())
    child.gr_context = getcurrent().gr_context  # the request task's context
    result = child.switch(*args)
    while not child.dead:
        try:
            value = await result
        except BaseException as error:  # the child handles it or re-raises it
            result = child.throw(error)
        else:
            result = child.switch(value)
    return result


def wait_for(awaitable: Awaitable[T]) -> T:
    """From synchronous code under ``run_bridged``: the awaitable's result."""
    current = getcurrent()
    if not isinstance(current, _Bridged):
        close = getattr(awaitable, "close", None)
        if close is not None:
            close()  # no "never awaited" warning on top of this error
        raise RuntimeError("wait_for() outside run_bridged(): serve the app through asgi.py")
    return current.parent.switch(awaitable)


def bridged_async_to_sync(function: Callable[..., Awaitable[T]]) -> Callable[..., T]:
    """A replacement for ``Flask.async_to_sync`` that waits through the bridge."""

    # No functools.wraps: this runs for every view call, and copying the
    # metadata cost more than the call itself.
    def call(*args: Any, **kwargs: Any) -> T:
        return wait_for(function(*args, **kwargs))

    return call


class BridgedRedis(redis.Redis):
    """The slice of a synchronous Redis client Flask-Session uses, served by the async one.

    With ``WSGI_MODE=loop`` Flask's synchronous layer, where Flask-Session
    opens and saves sessions, runs on the event loop: a blocking client there
    would stall every request of the worker while one waits on Redis (up to
    ``REDIS_SOCKET_TIMEOUT`` when Redis hangs). These calls are awaited on the
    loop through the bridge instead, on the process's one async pool.

    A ``redis.Redis`` only because Flask-Session checks ``isinstance`` (and
    otherwise makes a client of its own); no connection pool is ever made.
    """

    def __init__(self, client: Callable[[], Any]) -> None:  # no super(): no pool of its own
        self._client = client  # the async client is made when the server starts

    def get(self, name: str) -> Any:
        # Raw bytes, as from Flask-Session's own client: the async client
        # decodes, and a record that is not UTF-8 must read as no session.
        return wait_for(self._client().execute_command("GET", name, **{NEVER_DECODE: True}))

    def set(self, *args: Any, **kwargs: Any) -> Any:
        return wait_for(self._client().set(*args, **kwargs))

    def delete(self, *names: str) -> Any:
        return wait_for(self._client().delete(*names))

    def close(self) -> None:
        """Nothing to close: the pool is the async client's."""

    def __repr__(self) -> str:
        return "BridgedRedis()"
