"""Brute-force limits on password checks, counted in Redis so every instance shares them.

Two fixed-window counters of failed attempts: one for the account and one
for the client IP. An attacker hammering one account exhausts that account's
and their own IP's budget, never another account's from another address.
Each attempt is counted before the password is checked, atomically on each
counter, so concurrent guesses cannot slip past the limit and a blocked guess costs no
bcrypt; a correct password refunds its attempt, so only failures add up and
a busy office behind one address is not throttled by its own logins.

A check whose secret is compared first, in the process (introspection's
client secret), queues the take for a wrong secret and a plain read of the
same counters for a right one into its own pipeline (``queue_attempt``), and
judges the replies with one rule (``settle_attempt``). Redis runs commands in
the order they arrive, so that read sees every failure counted before it.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from config.settings import Settings
from service.auth.password_epochs import username_digest
from service.errors import TooManyRequests

# KEYS[1]: one counter; ARGV[1]: the window; ARGV[2]: its limit. Returns 0
# when the attempt is allowed (and counted), else the seconds until the
# counter resets. One key per script: the counters of an account and of an
# address hash to different cluster slots.
_TAKE = """
if tonumber(redis.call('GET', KEYS[1]) or '0') >= tonumber(ARGV[2]) then
  local ttl = redis.call('TTL', KEYS[1])
  if ttl < 0 then
    redis.call('EXPIRE', KEYS[1], ARGV[1])
    ttl = tonumber(ARGV[1])
  end
  return math.max(ttl, 1)
end
if redis.call('INCR', KEYS[1]) == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return 0
"""

# Never below zero, and never on a counter that has expired meanwhile: DECR
# would recreate it without a TTL. A counter back at zero is deleted: every
# successful login refunds, and a zero kept for the window costs about 100
# bytes per account that logged in.
_REFUND = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 1 then redis.call('DECR', KEYS[1]) elseif n == 1 then redis.call('DEL', KEYS[1]) end
return 0
"""


# The look-alike of a refund, for an attempt that was only read: the same
# round trip to the same nodes, changing nothing.
_NOTHING = "return 0"


def queue_attempt(pipe: Pipeline, window: int, counters: dict[str, int], *, count: bool) -> int:
    """Queue on each counter (key: limit) the attempt's atomic take, or a plain read; the replies queued.

    Judge the replies with ``settle_attempt``. Redis runs a pipeline's
    commands in the order they reach it, so a read placed after takes that
    exhausted a counter sees it exhausted, however many were in flight.
    """
    for key, limit in counters.items():
        if count:
            # EVAL with the source, not EVALSHA: redis-py loads a pipeline's
            # registered scripts with a SCRIPT EXISTS round trip first, and
            # Redis caches a script it was sent, so only the bytes differ.
            pipe.eval(_TAKE, 1, key, window, limit)
        else:
            pipe.get(key)
            pipe.ttl(key)
    return len(counters) * (1 if count else 2)


async def settle_attempt(
    redis: Redis, window: int, counters: dict[str, int], replies: list[Any], *, counted: bool
) -> int:
    """0 if the attempt queued by ``queue_attempt`` is allowed, else the seconds until its first limit resets.

    A counted attempt refused by one counter is taken back from the others
    (one more round trip), so it counts nowhere; a read one refused makes the
    same round trip, changing nothing, so the two cost the same.
    """
    if counted:
        waits = [int(reply) for reply in replies]
    else:
        pairs = zip(counters.values(), replies[0::2], replies[1::2], strict=True)
        waits = [_read_wait(window, limit, count, int(ttl)) for limit, count, ttl in pairs]
    if not any(waits):
        return 0
    others = [key for key, wait in zip(counters, waits, strict=True) if not wait]
    await _each(redis, _REFUND if counted else _NOTHING, {key: [] for key in others})
    return max(waits)


def _read_wait(window: int, limit: int, count: str | None, ttl: int) -> int:
    """_TAKE's refusal, from a plain read: the seconds until an exhausted counter resets, else 0."""
    if int(count or 0) < limit:
        return 0
    return max(ttl, 1) if ttl >= 0 else window


def too_many_logins(wait: int) -> TooManyRequests:
    """The 429 of an exhausted login limit, whichever request met it."""
    return TooManyRequests(f"Too many login attempts; try again in {wait} seconds.", retry_after=wait)


async def take(redis: Redis, window: int, counters: dict[str, int]) -> int:
    """Count an attempt on each counter (key: limit); 0, or the seconds until the first exhausted resets.

    Each counter is checked and counted atomically on its own, all in one
    pipeline (one round trip; on a cluster, one per node holding a counter).
    An attempt refused by one counter is taken back from the others, so a
    refused attempt counts nowhere; a racing attempt may in the meantime see
    a count one too high (a 429 at the very edge of the limit, never one
    attempt past it).
    """
    if not counters:
        return 0
    async with redis.pipeline(transaction=False) as pipe:
        queue_attempt(pipe, window, counters, count=True)
        replies = await pipe.execute()
    return await settle_attempt(redis, window, counters, replies, counted=True)


async def refund(redis: Redis, keys: list[str]) -> None:
    """Take back one counted attempt from each counter."""
    await _each(redis, _REFUND, {key: [] for key in keys})


async def _each(redis: Redis, script: str, calls: dict[str, list[int]]) -> list[int]:
    """Run a one-key script on each key (with its arguments), in one non-transactional pipeline."""
    if not calls:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for key, args in calls.items():
            pipe.eval(script, 1, key, *args)  # EVAL, not EVALSHA: see queue_attempt
        return [int(reply) for reply in await pipe.execute()]


def username_counter_key(username: str) -> str:
    """The Redis key counting failed attempts on one username."""
    # Hashed: a login may name any string, and the key's size must not follow it.
    return f"auth:limit:account:{username_digest(username)}"


def address_counter_key(ip: str) -> str:
    """The Redis key counting failed attempts from one client address."""
    return f"auth:limit:ip:{ip}"


async def count_attempt(redis: Redis, settings: Settings, *, username: str, ip: str) -> None:
    """Count a password attempt for the account and the IP; 429 once either is exhausted."""
    counters = {
        username_counter_key(username): settings.login_max_per_account,
        address_counter_key(ip): settings.login_max_per_ip,
    }
    wait = await take(redis, settings.login_window, counters)
    if wait:
        raise too_many_logins(wait)


async def refund_attempt(redis: Redis, *, username: str, ip: str) -> None:
    """Take back a counted attempt whose password was right."""
    await refund(redis, [username_counter_key(username), address_counter_key(ip)])
