"""Login sessions in Redis: a token is honoured only while its session record exists.

An allow-list rather than a deny-list: revoking deletes the record, and every
instance sees that on its next request. If Redis loses its data (a restart
without persistence, a failover, FLUSHALL), every session is gone and users
log in again; a revoked token can never come back.

Keys, each with a TTL no longer than the login it protects:

* ``auth:session:{sid}``: a hash (uid, created_at, seen, ua, ip; ``rt`` the
  live refresh token's id; ``fs`` the key of a cookie login's cookie record).
  ``uid`` is the account's ``redis_name``, ``"<user id>:<account key>"``: a
  database that hands out the same id again (a new one, a restored backup)
  makes a new account with a new key, which never matches an earlier
  account's sessions.
* ``auth:user:{redis_name}:sessions``: a sorted set of the account's session ids by
  creation time, so listing and logging out everywhere need not scan Redis.
  Its TTL is renewed to the full session lifetime whenever a member's is, so
  it outlives every member. At most ``MAX_SESSIONS_PER_USER`` members: a new
  login beyond that ends the oldest, so no user's sessions grow without bound.

Every revocation goes through ``end_session``, ``end_sessions`` or, for a
reused refresh token, ``rotate_refresh`` (the check and the revocation must
be one atomic script there).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum
from typing import cast

from redis.asyncio import Redis

from service.auth import session_scripts as scripts
from service.auth.password_epochs import PasswordEpoch
from service.auth.tokens.jwts import Claims
from service.errors import Unauthorized
from service.models import utcnow
from service.redis import cached_script, wait_for_replicas
from service.users.keys import Account

SESSION_PREFIX = "auth:session:"
_MAX_USER_AGENT = 256


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of a request: an account, through a login session or a personal token.

    ``scopes`` is None for a login session (it may do everything); for a
    personal access token, what the token grants, ``token_id`` naming it.
    """

    account: Account
    session_id: str
    scopes: frozenset[str] | None = None
    token_id: int = 0

    @classmethod
    def of(cls, claims: Claims) -> Principal:
        """The principal a verified token speaks for."""
        return cls(claims.account, claims.session_id)

    # Shorthands for the repositories' keyword arguments.
    @property
    def user_id(self) -> int:
        return self.account.user_id

    @property
    def account_key(self) -> str:
        return self.account.account_key


@dataclass(frozen=True)
class ClientInfo:
    """Where a login came from, shown in the session list."""

    user_agent: str
    ip: str


@dataclass(frozen=True)
class SessionRecord:
    """A live login session, as listed to its account."""

    id: str
    created_at: str
    last_seen_at: str
    user_agent: str
    ip: str


class Rotation(IntEnum):
    """What spending a refresh token did."""

    REISSUED = 2  # spent moments ago by the same client: give it the same successor again
    ROTATED = 1
    UNKNOWN = 0  # no such live session: expired, revoked, or Redis lost it
    REUSED = -1  # a spent token: the session has just been revoked


def session_key(session_id: str) -> str:
    return f"{SESSION_PREFIX}{session_id}"


def user_sessions_key(account: Account) -> str:
    return f"auth:user:{account.redis_name}:sessions"


async def start_session(
    redis: Redis,
    *,
    session_id: str,
    account: Account,
    ttl: int,
    limit: int,
    client: ClientInfo,
    epoch: PasswordEpoch,
    refresh_id: str = "",
    cookie_record_key: str = "",
) -> None:
    """Record a new login session of ``account``, living as long as its refresh token; at most ``limit``.

    401 when the password changed after this login read ``epoch``.
    """
    now = utcnow()
    record: dict[str, str | int] = {
        "uid": account.redis_name,
        "created_at": _timestamp(now),
        "seen": _timestamp(now),
        "ua": client.user_agent[:_MAX_USER_AGENT],
        "ip": client.ip,
    }
    if refresh_id:
        record["rt"] = refresh_id
    if cookie_record_key:
        record["fs"] = cookie_record_key
    fields = [item for pair in record.items() for item in pair]
    script = cached_script(redis, scripts.START)
    keys = [session_key(session_id), user_sessions_key(account), epoch.key]
    args = [ttl, limit, session_id, SESSION_PREFIX, epoch.value, *fields]
    outcome = int(await script(keys=keys, args=args))
    if outcome < 1:
        raise Unauthorized("The password changed while logging in; log in again.")
    if outcome > 1:
        # The oldest sessions were ended to make room: a revocation like any
        # other, which a failover must not undo.
        await wait_for_replicas(redis)


async def touch_session(redis: Redis, caller: Principal, *, seen_every: float) -> bool:
    """Is the caller's session live and its account's own? Marked seen if not within ``seen_every`` s.

    One round trip: the check of every authenticated request.
    """
    script = cached_script(redis, scripts.TOUCH)
    args = touch_args(caller.account, seen_every)
    return bool(await script(keys=[session_key(caller.session_id)], args=args) == 1)


def touch_args(account: Account, seen_every: float) -> list[str]:
    """The touch script's ARGV: the account, now, and the oldest last-seen time left as it is."""
    now = utcnow()
    return [account.redis_name, _timestamp(now), _timestamp(now - timedelta(seconds=seen_every))]


def _timestamp(moment: datetime) -> str:
    # Always with microseconds: the touch script compares these as strings.
    return moment.isoformat(timespec="microseconds")


async def rotate_refresh(
    redis: Redis, claims: Claims, *, new_refresh_id: str, ttl: int, client: ClientInfo, grace: int
) -> tuple[Rotation, int]:
    """Spend the refresh token ``claims`` describes: a ``Rotation`` and the successor's issue time."""
    script = cached_script(redis, scripts.ROTATE)
    keys = [session_key(claims.session_id), user_sessions_key(claims.account)]
    now = _timestamp(utcnow())
    args: list[str | int] = [claims.account.redis_name, claims.token_id, new_refresh_id, now, ttl]
    args += [claims.session_id, client_fingerprint(client), grace]
    code, issued_at = await script(keys=keys, args=args)
    outcome = Rotation(int(code))
    if outcome in (Rotation.ROTATED, Rotation.REUSED):
        # A spent token, or a session ended for reuse, must stay so after a failover.
        await wait_for_replicas(redis)
    return outcome, int(issued_at)


def client_fingerprint(client: ClientInfo) -> str:
    """The client's address and user agent as one short digest, for the refresh grace."""
    digest = hashlib.sha256(f"{client.ip}\n{client.user_agent}".encode("utf-8", "replace"))
    return digest.hexdigest()[:32]


async def end_session(redis: Redis, *, account: Account, session_id: str) -> bool:
    """Revoke every token of one of ``account``'s sessions, on every instance at once."""
    script = cached_script(redis, scripts.END_ONE)
    keys = [session_key(session_id), user_sessions_key(account)]
    ended = bool(await script(keys=keys, args=[account.redis_name, session_id]) == 1)
    # Acknowledged only once replicas hold it: a failover must not resurrect it.
    await wait_for_replicas(redis)
    return ended


async def end_sessions(redis: Redis, *, account: Account, keep: str = "") -> int:
    """Revoke every session of ``account`` except ``keep``; how many were ended."""
    script = cached_script(redis, scripts.END_ALL)
    ended = int(await script(keys=[user_sessions_key(account)], args=[SESSION_PREFIX, keep]))
    await wait_for_replicas(redis)
    return ended


async def list_sessions(redis: Redis, account: Account) -> list[SessionRecord]:
    """``account``'s live sessions, oldest first; ids of expired ones are dropped from the index."""
    index = user_sessions_key(account)
    session_ids = cast(list[str], await redis.zrange(index, 0, -1))  # decode_responses: str
    async with redis.pipeline(transaction=False) as pipe:
        for session_id in session_ids:
            pipe.hgetall(session_key(session_id))
        records = await pipe.execute()
    live: list[SessionRecord] = []
    gone: list[str] = []
    for session_id, record in zip(session_ids, records, strict=True):
        if record.get("uid") != account.redis_name:
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
