"""Run Flask's synchronous layer on the event loop, suspending it with greenlets.

Flask calls async views through ``async_to_sync``, which needs a thread to
block; here the WSGI call runs in a greenlet on the loop's own thread, and
where it would block on a coroutine, ``wait_for`` switches to the loop, which
awaits it and switches back with the result (the mechanism SQLAlchemy's
asyncio layer is built on; why: docs/architecture.md, "The greenlet bridge").
The greenlet shares the request task's context, so Flask's request context
and the request id are visible to the coroutines it awaits. Code in the
synchronous layer must do no blocking I/O except through ``wait_for``.
Greenlets are reused, one request at a time each: a new one allocates its
stack and frames afresh and frees them when it ends.

This module owns our one override of Flask: ``Flask.async_to_sync``, a
documented override point, checked against Flask 3.1.3.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from flask import Flask
from greenlet import GreenletExit, getcurrent, greenlet

T = TypeVar("T")
FLASK_CHECKED = "3.1.3"
# Idle greenlets kept per thread; beyond this many, one that finishes ends.
_KEPT = 256
_pools = threading.local()


class _Bridged(greenlet):
    """A greenlet whose parent is a coroutine on the loop, ready to await for it."""

    # SQLAlchemy's asyncio layer waits the same way (``await_`` switches the
    # awaitable to the parent and gets its result back), so its synchronous
    # API may run under ``run_bridged`` too, with no greenlet of its own.
    __sqlalchemy_greenlet_provider__ = True


class _Finished:
    """What a bridged call ended with: its result, or the exception it raised."""

    __slots__ = ("error", "value")

    def __init__(self, value: Any = None, error: BaseException | None = None) -> None:
        self.value, self.error = value, error


def _serve(function: Callable[..., Any], args: tuple[Any, ...]) -> None:
    """A reusable greenlet's body: run each call it is given, hand back how it ended."""
    while True:
        held: list[_Finished] = []
        try:
            held.append(_Finished(function(*args)))
        except GreenletExit:  # the greenlet is being discarded
            raise
        except BaseException as error:  # re-raised by run_bridged, in the caller
            held.append(_Finished(error=error))
        function = args = None  # type: ignore[assignment]  # nothing of the call kept while idle
        function, args = getcurrent().parent.switch(held.pop())  # type: ignore[union-attr]


async def run_bridged(function: Callable[..., T], *args: Any) -> T:
    """Call ``function`` on this thread; every ``wait_for`` inside it is awaited here."""
    idle: list[_Bridged] | None = getattr(_pools, "idle", None)
    if idle is None:
        idle = _pools.idle = []
    current = getcurrent()
    child = idle.pop() if idle else _Bridged(_serve)
    child.parent = current
    child.gr_context = current.gr_context  # the request task's context
    result = child.switch(function, args)
    while type(result) is not _Finished:
        try:
            value = await result
        except BaseException as error:  # the child handles it or re-raises it
            result = child.throw(error)
        else:
            result = child.switch(value)
    if len(idle) < _KEPT:
        child.gr_context = None  # an idle greenlet holds nothing of the request it served
        idle.append(child)
    if result.error is not None:
        raise result.error
    return cast(T, result.value)


def wait_for(awaitable: Awaitable[T]) -> T:
    """From synchronous code under ``run_bridged``: the awaitable's result."""
    current = getcurrent()
    if not isinstance(current, _Bridged):
        close = getattr(awaitable, "close", None)
        if close is not None:
            close()  # no "never awaited" warning on top of this error
        raise RuntimeError("wait_for() outside run_bridged(): serve the app through asgi.py")
    parent = current.parent  # the coroutine's greenlet, set by run_bridged
    assert parent is not None
    return cast(T, parent.switch(awaitable))


def bridged_async_to_sync(function: Callable[..., Awaitable[T]]) -> Callable[..., T]:
    """A replacement for ``Flask.async_to_sync`` that waits through the bridge."""

    # No functools.wraps: this runs for every view call, and copying the
    # metadata cost more than the call itself.
    def call(*args: Any, **kwargs: Any) -> T:
        return wait_for(function(*args, **kwargs))

    return call


def bridge_async_views(app: Flask) -> None:
    """Make ``app`` await its async views (via ``ensure_sync``) on the server's loop."""
    app.async_to_sync = bridged_async_to_sync  # type: ignore[method-assign,assignment]
