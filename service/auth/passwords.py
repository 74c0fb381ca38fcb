"""bcrypt hashing on a small thread pool, so hashing never stalls the event loop."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import bcrypt

from service.users.schemas import MAX_PASSWORD_BYTES

T = TypeVar("T")


class PasswordHasher:
    """Hash and verify passwords at a fixed bcrypt cost.

    bcrypt releases the GIL, so a pool as large as the machine's cores hashes
    in parallel while the loop keeps serving other requests.
    """

    def __init__(self, rounds: int, threads: int) -> None:
        self.rounds = rounds
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="bcrypt")
        self._dummy_hash: bytes | None = None

    async def hash(self, password: str) -> str:
        salt = bcrypt.gensalt(self.rounds)
        hashed = await self._run(bcrypt.hashpw, password.encode(), salt)
        return hashed.decode()

    async def verify(self, password: str, hashed: str | None) -> bool:
        """True when ``password`` matches ``hashed``.

        With no hash (unknown user) or an over-long password, a dummy hash of
        the same cost is checked instead, so the answer takes as long as a
        real one and says nothing about which part was wrong.
        """
        candidate = password.encode()
        if hashed is None or len(candidate) > MAX_PASSWORD_BYTES:
            await self._run(bcrypt.checkpw, b"not-the-password", await self._dummy())
            return False
        try:
            return await self._run(bcrypt.checkpw, candidate, hashed.encode())
        except ValueError:  # a corrupt stored hash: no password matches it
            return False

    async def _dummy(self) -> bytes:
        if self._dummy_hash is None:
            self._dummy_hash = await self._run(
                bcrypt.hashpw, secrets.token_bytes(16), bcrypt.gensalt(self.rounds)
            )
        return self._dummy_hash

    async def warm_up(self) -> None:
        """Compute the dummy hash now rather than during someone's login."""
        await self._dummy()

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, function, *args)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
