"""Brute-force limits on password checks, counted in Redis so every instance shares them.

Two fixed-window counters of failed attempts: one for the account and one
for the client IP. An attacker hammering one account exhausts that account's
and their own IP's budget, never another account's from another address.
Each attempt is counted before the password is checked, atomically, so
concurrent guesses cannot slip past the limit and a blocked guess costs no
bcrypt; a correct password refunds its attempt, so only failures add up and
a busy office behind one address is not throttled by its own logins.
"""

from __future__ import annotations

from redis.asyncio import Redis

from config.settings import Settings
from service.auth.password_epochs import username_digest
from service.errors import TooManyRequests
from service.redis import cached_script

# KEYS: the counters; ARGV[1]: the window; ARGV[2..]: each counter's limit.
# Returns 0 when the attempt is allowed (and counted), else the seconds until
# the first exhausted counter resets.
_TAKE = """
for i, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[i + 1]) then
    local ttl = redis.call('TTL', key)
    if ttl < 0 then
      redis.call('EXPIRE', key, ARGV[1])
      ttl = tonumber(ARGV[1])
    end
    return math.max(ttl, 1)
  end
end
for _, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('EXPIRE', key, ARGV[1]) end
end
return 0
"""

# Never below zero, and never on a counter that has expired meanwhile: DECR
# would recreate it without a TTL.
_REFUND = """
for _, key in ipairs(KEYS) do
  local n = tonumber(redis.call('GET', key) or '0')
  if n > 0 then redis.call('DECR', key) end
end
return 0
"""


def username_counter_key(username: str) -> str:
    """The Redis key counting failed attempts on one username."""
    # Hashed: a login may name any string, and the key's size must not follow it.
    return f"auth:limit:account:{username_digest(username)}"


def address_counter_key(ip: str) -> str:
    """The Redis key counting failed attempts from one client address."""
    return f"auth:limit:ip:{ip}"


async def count_attempt(redis: Redis, settings: Settings, *, username: str, ip: str) -> None:
    """Count a password attempt for the account and the IP; 429 once either is exhausted."""
    script = cached_script(redis, _TAKE)
    keys = [username_counter_key(username), address_counter_key(ip)]
    limits = [settings.login_max_per_account, settings.login_max_per_ip]
    wait = int(await script(keys=keys, args=[settings.login_window, *limits]))
    if wait:
        raise TooManyRequests(f"Too many login attempts; try again in {wait} seconds.", retry_after=wait)


async def refund_attempt(redis: Redis, *, username: str, ip: str) -> None:
    """Take back a counted attempt whose password was right."""
    script = cached_script(redis, _REFUND)
    await script(keys=[username_counter_key(username), address_counter_key(ip)])
