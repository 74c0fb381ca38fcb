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

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from greenlet import getcurrent, greenlet

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

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> T:
        return wait_for(function(*args, **kwargs))

    return call
