"""First come, first served: bounded resources handed out in the order callers asked.

Pools that wake a waiter and let it compete with newcomers (redis-py's
``BlockingConnectionPool`` on an ``asyncio.Condition``; SQLAlchemy's queue
pool, which tries ``get_nowait`` before waiting on an ``asyncio.Queue``) are
unfair under sustained load: a woken waiter that loses the race goes back to
the end of the queue, again and again. At 512 connections the
benchmark saw p99 at 8 times p50 and requests failing with 503 after waiting
out the pool timeout while later ones went through. ``asyncio.Semaphore``
hands each release to the longest waiter and lets no newcomer past a queue,
so a semaphore with one slot per pooled connection, taken before the pool is
asked, makes the pool's own wait never block.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


async def take_turn(slots: asyncio.Semaphore, patience: float | None) -> None:
    """Take a slot, waiting in arrival order; ``TimeoutError`` after ``patience`` seconds."""
    if not slots.locked():
        await slots.acquire()  # free: returns at once, without arming a timer
        return
    async with asyncio.timeout(patience):
        await slots.acquire()


@asynccontextmanager
async def turn(slots: asyncio.Semaphore, patience: float | None) -> AsyncIterator[None]:
    """Hold a slot for the block: taken as ``take_turn`` takes it, given back on leaving."""
    await take_turn(slots, patience)
    try:
        yield
    finally:
        slots.release()
