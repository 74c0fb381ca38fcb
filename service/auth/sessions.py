"""Login sessions in Redis: a token is honoured only while its session record exists.

An allow-list rather than a deny-list: logout deletes the record, and every
instance sees that on its next request. If Redis loses its data, every
session is gone and users log in again; a revoked token can never come back.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from service.auth.tokens import Claims, new_id
from service.models import utcnow
from service.redis import wait_for_replicas


def session_key(session_id: str) -> str:
    return f"auth:session:{session_id}"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of a request."""

    user_id: int
    session_id: str


async def start_session(redis: Redis, *, user_id: int, ttl: int) -> str:
    """Record a new login session; it lives as long as its refresh token."""
    session_id = new_id()
    key = session_key(session_id)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(key, mapping={"uid": user_id, "created_at": utcnow().isoformat()})
        pipe.expire(key, ttl)
        await pipe.execute()
    return session_id


async def check_session(redis: Redis, claims: Claims) -> bool:
    """One round trip: is the token's session still live and the user's own?"""
    owner = await redis.hget(session_key(claims.session_id), "uid")
    return owner == str(claims.user_id)


async def end_session(redis: Redis, session_id: str) -> None:
    """Revoke every token of the session, on every instance at once, durably."""
    await redis.delete(session_key(session_id))
    # Acknowledged only once replicas hold it: a failover must not resurrect it.
    await wait_for_replicas(redis)
