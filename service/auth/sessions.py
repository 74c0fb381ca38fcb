"""Login sessions in Redis: a token is honoured only while its session record exists.

An allow-list rather than a deny-list: revoking deletes the record, and every
instance sees that on its next request. If Redis loses its data (a restart
without persistence, a failover, FLUSHALL), every session is gone and users
log in again; a revoked token can never come back.

Keys, each with a TTL no longer than the login it protects:

* ``auth:session:{sid}``: a hash (uid, created_at, seen, ua, ip; ``rt`` the
  live refresh token's id; ``fs`` the Flask-Session key of a cookie login).
  ``uid`` is the owner, ``"<user id>:<account key>"``: a database that hands
  out the same id again (a new one, a restored backup) makes a new account
  with a new key, which never matches an earlier account's sessions.
* ``auth:user:{owner}:sessions``: a sorted set of the owner's session ids by
  creation time, so listing and logging out everywhere need not scan Redis.
  Its TTL is renewed to the full session lifetime whenever a member's is, so
  it outlives every member. At most ``MAX_SESSIONS_PER_USER`` members: a new
  login beyond that ends the oldest, so no user's sessions grow without bound.

Every revocation goes through ``end_session``, ``end_sessions`` or, for a
reused refresh token, ``rotate_refresh`` (the check and the revocation must
be one atomic script there).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum

from redis.asyncio import Redis

from service.auth.password_epochs import PasswordEpoch
from service.auth.tokens import Claims
from service.errors import Unauthorized
from service.models import utcnow
from service.redis import cached_script, wait_for_replicas
from service.users.keys import owner_of

SESSION_PREFIX = "auth:session:"
_SESSION_ID = re.compile(r"^[0-9a-f]{32}$")
_MAX_USER_AGENT = 256

# One round trip per authenticated request: the check and the last-seen
# update together, atomically (the HSET cannot recreate a deleted record).
# The update is skipped while the recorded time is newer than ARGV[3]: most
# requests then write nothing, so nothing to fsync to the AOF or replicate.
# ISO times in UTC with microseconds compare as strings in time order.
_TOUCH = """
local s = redis.call('HMGET', KEYS[1], 'uid', 'seen')
if s[1] ~= ARGV[1] then return 0 end
if not s[2] or s[2] < ARGV[3] then redis.call('HSET', KEYS[1], 'seen', ARGV[2]) end
return 1
"""

# Record a login unless the password changed meanwhile (see password_epochs),
# and end the oldest sessions beyond the user's limit. KEYS: the session, the
# index, the password epoch; ARGV: ttl, limit, sid, session key prefix, the
# epoch the login read, then the record's field/value pairs. Ordered by
# Redis's clock, not the instances' (which may disagree). Returns -1 when the
# epoch changed, else 1 plus the number of sessions it ended.
_START = """
if (redis.call('GET', KEYS[3]) or '0') ~= ARGV[5] then return -1 end
redis.call('HSET', KEYS[1], unpack(ARGV, 6))
redis.call('EXPIRE', KEYS[1], ARGV[1])
local now = redis.call('TIME')
redis.call('ZADD', KEYS[2], now[1] + now[2] / 1000000, ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[1])
local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[2])
local ended = 0
if excess > 0 then
  for _, sid in ipairs(redis.call('ZRANGE', KEYS[2], 0, excess - 1)) do
    local key = ARGV[4] .. sid
    local fs = redis.call('HGET', key, 'fs')
    if fs then redis.call('DEL', fs) end
    redis.call('DEL', key)
    redis.call('ZREM', KEYS[2], sid)
    ended = ended + 1
  end
end
return 1 + ended
"""

# Spend the presented refresh token. Atomic, so two concurrent refreshes with
# one token cannot both see it live: the loser sees a spent token, which is
# treated as theft and revokes the whole session.
_ROTATE = """
local s = redis.call('HMGET', KEYS[1], 'uid', 'rt', 'fs')
if s[1] ~= ARGV[1] then return 0 end
if s[2] ~= ARGV[2] then
  redis.call('DEL', KEYS[1])
  if s[3] then redis.call('DEL', s[3]) end
  redis.call('ZREM', KEYS[2], ARGV[6])
  return -1
end
redis.call('HSET', KEYS[1], 'rt', ARGV[3], 'seen', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[5])
return 1
"""

# End one session if it belongs to the user; its cookie record goes with it.
_END_ONE = """
local s = redis.call('HMGET', KEYS[1], 'uid', 'fs')
redis.call('ZREM', KEYS[2], ARGV[2])
if s[1] ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if s[2] then redis.call('DEL', s[2]) end
return 1
"""

# End every session of the user but ARGV[2] (empty: all of them).
_END_ALL = """
local ended = 0
for _, sid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if sid ~= ARGV[2] then
    local key = ARGV[1] .. sid
    local fs = redis.call('HGET', key, 'fs')
    if fs then redis.call('DEL', fs) end
    ended = ended + redis.call('DEL', key)
    redis.call('ZREM', KEYS[1], sid)
  end
end
return ended
"""


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of a request."""

    user_id: int
    account_key: str  # never shown: see service/users/keys.py
    session_id: str

    @property
    def owner(self) -> str:
        """The account as Redis names it: id and key."""
        return owner_of(self.user_id, self.account_key)


@dataclass(frozen=True)
class ClientInfo:
    """Where a login came from, shown in the session list."""

    user_agent: str
    ip: str


@dataclass(frozen=True)
class SessionRecord:
    """A live login session, as listed to its owner."""

    id: str
    created_at: str
    last_seen_at: str
    user_agent: str
    ip: str


class Rotation(IntEnum):
    """What spending a refresh token did."""

    ROTATED = 1
    UNKNOWN = 0  # no such live session: expired, revoked, or Redis lost it
    REUSED = -1  # a spent token: the session has just been revoked


def session_key(session_id: str) -> str:
    return f"{SESSION_PREFIX}{session_id}"


def user_sessions_key(owner: str) -> str:
    return f"auth:user:{owner}:sessions"


def is_session_id(value: str) -> bool:
    """Whether ``value`` could be a session id (anything else is simply unknown)."""
    return bool(_SESSION_ID.match(value))


async def start_session(
    redis: Redis,
    *,
    session_id: str,
    owner: str,
    ttl: int,
    limit: int,
    client: ClientInfo,
    epoch: PasswordEpoch,
    refresh_id: str = "",
    cookie_key: str = "",
) -> None:
    """Record a new login session of ``owner``, living as long as its refresh token; at most ``limit``.

    401 when the password changed after this login read ``epoch``.
    """
    now = utcnow()
    record: dict[str, str | int] = {
        "uid": owner,
        "created_at": _timestamp(now),
        "seen": _timestamp(now),
        "ua": client.user_agent[:_MAX_USER_AGENT],
        "ip": client.ip,
    }
    if refresh_id:
        record["rt"] = refresh_id
    if cookie_key:
        record["fs"] = cookie_key
    fields = [item for pair in record.items() for item in pair]
    script = cached_script(redis, _START)
    keys = [session_key(session_id), user_sessions_key(owner), epoch.key]
    args = [ttl, limit, session_id, SESSION_PREFIX, epoch.value, *fields]
    outcome = int(await script(keys=keys, args=args))
    if outcome < 1:
        raise Unauthorized("The password changed while logging in; log in again.")
    if outcome > 1:
        # The oldest sessions were ended to make room: a revocation like any
        # other, which a failover must not undo.
        await wait_for_replicas(redis)


async def check_session(redis: Redis, claims: Claims, *, seen_every: float) -> bool:
    """Is the token's session live and its account's own? Also marks it seen: one round trip."""
    return await touch_session(redis, owner=claims.owner, session_id=claims.session_id, seen_every=seen_every)


async def touch_session(redis: Redis, *, owner: str, session_id: str, seen_every: float) -> bool:
    """True when the session is live and ``owner``'s; marked seen if not within ``seen_every`` s."""
    script = cached_script(redis, _TOUCH)
    return await script(keys=[session_key(session_id)], args=touch_args(owner, seen_every)) == 1


def touch_args(owner: str, seen_every: float) -> list[str]:
    """The touch script's ARGV: the owner, now, and the oldest last-seen time left as it is."""
    now = utcnow()
    return [owner, _timestamp(now), _timestamp(now - timedelta(seconds=seen_every))]


def _timestamp(moment: datetime) -> str:
    # Always with microseconds: the touch script compares these as strings.
    return moment.isoformat(timespec="microseconds")


async def rotate_refresh(redis: Redis, claims: Claims, *, new_refresh_id: str, ttl: int) -> Rotation:
    """Spend the refresh token ``claims`` describes; a ``Rotation`` value."""
    script = cached_script(redis, _ROTATE)
    keys = [session_key(claims.session_id), user_sessions_key(claims.owner)]
    args = [claims.owner, claims.token_id, new_refresh_id, _timestamp(utcnow()), ttl]
    outcome = Rotation(await script(keys=keys, args=[*args, claims.session_id]))
    if outcome is not Rotation.UNKNOWN:
        # A spent token, or a session ended for reuse, must stay so after a failover.
        await wait_for_replicas(redis)
    return outcome


async def end_session(redis: Redis, *, owner: str, session_id: str) -> bool:
    """Revoke every token of one of ``owner``'s sessions, on every instance at once."""
    script = cached_script(redis, _END_ONE)
    keys = [session_key(session_id), user_sessions_key(owner)]
    ended = await script(keys=keys, args=[owner, session_id]) == 1
    # Acknowledged only once replicas hold it: a failover must not resurrect it.
    await wait_for_replicas(redis)
    return ended


async def end_sessions(redis: Redis, *, owner: str, keep: str = "") -> int:
    """Revoke every session of ``owner`` except ``keep``; how many were ended."""
    script = cached_script(redis, _END_ALL)
    ended = int(await script(keys=[user_sessions_key(owner)], args=[SESSION_PREFIX, keep]))
    await wait_for_replicas(redis)
    return ended


async def list_sessions(redis: Redis, owner: str) -> list[SessionRecord]:
    """``owner``'s live sessions, oldest first; ids of expired ones are dropped from the index."""
    index = user_sessions_key(owner)
    session_ids = await redis.zrange(index, 0, -1)
    async with redis.pipeline(transaction=False) as pipe:
        for session_id in session_ids:
            pipe.hgetall(session_key(session_id))
        records = await pipe.execute()
    live, gone = [], []
    for session_id, record in zip(session_ids, records, strict=True):
        if record.get("uid") != owner:
            gone.append(session_id)
            continue
        live.append(
            SessionRecord(
                id=session_id,
                created_at=record["created_at"],
                last_seen_at=record.get("seen", record["created_at"]),
                user_agent=record.get("ua", ""),
                ip=record.get("ip", ""),
            )
        )
    if gone:
        await redis.zrem(index, *gone)
    return live
