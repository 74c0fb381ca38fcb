"""Password epochs: a login that checked a password which has since changed opens no session.

A login reads the account's epoch before it reads the password hash, and
again right after recording its session, which it ends if the epoch
changed (the epoch and the session are in different Redis Cluster slots,
so not one script). A password change bumps the epoch after storing the
new hash and before ending the other sessions. So a login racing a change
either read the new hash (and failed), or recorded its session before the
others are ended (and is ended with them), or sees the bump and is refused.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from redis.asyncio import Redis

# Only logins in flight when the password changes need the epoch: an hour is
# far beyond any request's lifetime. Once it expires the epoch reads as 0,
# which at worst refuses a login that was in flight at that very moment.
EPOCH_TTL = 3600


def username_digest(username: str) -> str:
    """A fixed-size key part for any string a client sends as a username."""
    return hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]


@dataclass(frozen=True)
class PasswordEpoch:
    """How many times an account's password had changed when a login began checking it."""

    key: str
    value: str


def epoch_key(username: str) -> str:
    return f"auth:password-epoch:{username_digest(username)}"


async def read_epoch(redis: Redis, username: str) -> PasswordEpoch:
    """The epoch now; read it before reading the password hash."""
    key = epoch_key(username)
    return PasswordEpoch(key, str(await redis.get(key) or "0"))


async def bump_epoch(redis: Redis, username: str) -> None:
    """Mark a password change; call it after storing the new hash."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.incr(epoch_key(username))
        pipe.expire(epoch_key(username), EPOCH_TTL)
        await pipe.execute()
