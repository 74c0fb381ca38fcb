"""The user agents of login sessions: each stored once for the whole deployment.

A session record holds only its agent's digest (``session_keys.agent_digest``);
the agent itself is one string, ``auth:ua:<digest>``, however many sessions
of however many accounts share it. Its key is in its own Redis Cluster slot,
so it is written in a step after the session script, never in it; every
login and refresh that uses it re-arms its TTL to the session lifetime, so it
outlives each session that names it. One missing (expired, a write that
failed, a node that lost it) lists as unknown, never as an error.
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from service.auth.session_keys import agent_digest, agent_key, agent_key_of_record
from service.users.keys import Account


def queue_store(pipe: Pipeline, user_agent: str, ttl: int) -> None:
    """Queue storing (and re-arming) ``user_agent`` for ``ttl`` seconds into ``pipe``; nothing for none."""
    if user_agent:
        pipe.set(_key(user_agent), user_agent, ex=ttl)


async def store(redis: Redis, user_agent: str, ttl: int) -> None:
    """Store (and re-arm) ``user_agent`` for ``ttl`` seconds."""
    await redis.set(_key(user_agent), user_agent, ex=ttl)


def _key(user_agent: str) -> str:
    return agent_key(agent_digest(user_agent))


async def read(redis: Redis, account: Account, digests: list[str]) -> dict[str, str]:
    """The agents these digests of ``account``'s records name; one missing is left out."""
    if not digests:
        return {}
    # Keys of many slots: a pipeline, which a cluster client splits by node (MGET would be refused).
    async with redis.pipeline(transaction=False) as pipe:
        for digest in digests:
            pipe.get(agent_key_of_record(account, digest))
        found = await pipe.execute()
    return {digest: agent for digest, agent in zip(digests, found, strict=True) if agent}
