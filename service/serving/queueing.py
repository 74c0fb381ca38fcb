"""First come, first served: bounded resources handed out in the order callers asked.

redis-py's and SQLAlchemy's pools let a newcomer take a freed connection
ahead of the waiter woken for it, which under sustained load starves some
requests into 503s (docs/performance.md, "FIFO pools"). ``asyncio.Semaphore``
hands each release to the longest waiter, so one slot per pooled connection,
taken before the pool is asked, keeps the pool's own wait from ever blocking.
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
