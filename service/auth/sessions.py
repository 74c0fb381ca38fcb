"""Login sessions in Redis: a token is honoured only while its session record exists.

An allow-list rather than a deny-list: revoking deletes the record, and every
instance sees that on its next request. If Redis loses its data (a restart
without persistence, a failover, FLUSHALL), every session is gone and users
log in again; a revoked token can never come back.

The keys (``session_keys``) all carry the account's hash tag, each with a
TTL no longer than the login it protects: the session's record; the
account's index of its sessions by creation time, so listing and logging out
everywhere need not scan Redis, renewed to the full session lifetime
whenever a member's is, so it outlives every member. User agents are stored
once for the whole deployment (``session_agents``). At most
``MAX_SESSIONS_PER_USER`` sessions: a new login beyond that ends the oldest,
so no user's sessions grow without bound.

Every revocation goes through ``end_session``, ``end_sessions`` or, for a
reused refresh token, ``rotate_refresh`` (the check and the revocation must
be one atomic script there).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import RedisError

from service.auth import session_agents as agents
from service.auth import session_scripts as scripts
from service.auth.password_epochs import PasswordEpoch
from service.auth.session_keys import (
    agent_digest,
    client_fingerprint,
    index_key,
    long_id,
    pack_client,
    record_client,
    refresh_handle,
    session_key,
    session_key_of_member,
    short_id,
)
from service.auth.tokens.jwts import Claims
from service.errors import Unauthorized
from service.redis import cached_script, wait_for_replicas
from service.users.keys import Account

_MAX_USER_AGENT = 256
# A value past 64 bytes would turn the record from a listpack into a
# hashtable (Redis's hash-max-listpack-value); an address is at most 45.
_MAX_ADDRESS = 64


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
    """The client of a login or refresh: the session list shows the last one to use the session."""

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
    user_agent = client.user_agent[:_MAX_USER_AGENT]
    digest = agent_digest(user_agent) if user_agent else ""
    fields = ["c", pack_client(refresh_id, digest, client.ip[:_MAX_ADDRESS])]
    if cookie_record_key:
        fields += ["f", cookie_record_key]
    member = short_id(session_id)
    script = cached_script(redis, scripts.START)
    keys = [session_key(account, session_id), index_key(account)]
    excess = cast(list[str], await script(keys=keys, args=[ttl, limit, member, *fields]))
    # The epoch lives in another slot, so it is read after the session is
    # written: a password change bumps it before ending sessions, so either
    # that ending sees this session or this read sees the bump.
    try:
        async with redis.pipeline(transaction=False) as pipe:
            agents.queue_store(pipe, user_agent, ttl)  # its own slot too: the same round trip
            pipe.get(epoch.key)
            *_, current = await pipe.execute()
    except RedisError:
        # The login fails (503): the session it recorded must not outlive it.
        with contextlib.suppress(RedisError):
            await _end(redis, account, [member])
        raise
    if str(current or "0") != epoch.value:
        await _end(redis, account, [member])
        raise Unauthorized("The password changed while logging in; log in again.")
    if excess:
        await _end(redis, account, excess)
        # The oldest sessions were ended to make room: a revocation like any
        # other, which a failover must not undo.
        await wait_for_replicas(redis, index_key(account))


async def touch_session(redis: Redis, caller: Principal, *, seen_every: float) -> bool:
    """Is the caller's session live? Marked seen if not within ``seen_every`` s.

    One round trip: the check of every authenticated request.
    """
    script = cached_script(redis, scripts.TOUCH)
    keys = [session_key(caller.account, caller.session_id)]
    return bool(await script(keys=keys, args=touch_args(seen_every)) == 1)


def touch_args(seen_every: float) -> list[int]:
    """The touch script's ARGV: how long a last-seen time stands, in microseconds."""
    return [int(seen_every * 1_000_000)]


def liveness_read(claims: Claims) -> tuple[str, list[str]]:
    """The key and fields to HMGET for ``is_live``: one round trip, or a part of one."""
    return session_key(claims.account, claims.session_id), ["s", "c", "r"]


def is_live(claims: Claims, reply: list[Any]) -> bool:
    """Whether a ``liveness_read`` reply shows the session live and (refresh) the token its live one."""
    seen, packed, refresh = reply
    if seen is None:
        return False
    live, _, _ = record_client(packed, refresh, None, None)
    return claims.token_type == "access" or live == refresh_handle(claims.token_id)


async def rotate_refresh(
    redis: Redis, claims: Claims, *, new_refresh_id: str, ttl: int, client: ClientInfo, grace: int
) -> tuple[Rotation, int]:
    """Spend the refresh token ``claims`` describes: a ``Rotation`` and the successor's issue time."""
    account = claims.account
    user_agent = client.user_agent[:_MAX_USER_AGENT]
    packed = pack_client(
        new_refresh_id, agent_digest(user_agent) if user_agent else "", client.ip[:_MAX_ADDRESS]
    )
    script = cached_script(redis, scripts.ROTATE)
    keys = [session_key(account, claims.session_id), index_key(account)]
    args: list[str | int] = [refresh_handle(claims.token_id), refresh_handle(new_refresh_id), ttl]
    args += [short_id(claims.session_id), client_fingerprint(client.ip, client.user_agent), grace, packed]
    code, issued_at, *cookie_record = await script(keys=keys, args=args)
    outcome = Rotation(int(code))
    if outcome == Rotation.ROTATED and user_agent:
        await agents.store(redis, user_agent, ttl)  # its own slot: after the script
    if outcome == Rotation.REUSED:
        await _delete_cookie_records(redis, [key for key in cookie_record if key])
    if outcome in (Rotation.ROTATED, Rotation.REUSED):
        # A spent token, or a session ended for reuse, must stay so after a failover.
        await wait_for_replicas(redis, index_key(account))
    return outcome, int(issued_at)


async def end_session(redis: Redis, *, account: Account, session_id: str) -> bool:
    """Revoke every token of one of ``account``'s sessions, on every instance at once."""
    ended = await _end(redis, account, [short_id(session_id)]) == 1
    # Acknowledged only once replicas hold it: a failover must not resurrect it.
    await wait_for_replicas(redis, index_key(account))
    return ended


async def end_sessions(redis: Redis, *, account: Account, keep: str = "") -> int:
    """Revoke every session of ``account`` except ``keep``; how many were ended.

    A login that records its session after the index was read here is not
    ended: it came after. A password change still catches it, by the epoch.
    """
    members = cast(list[str], await redis.zrange(index_key(account), 0, -1))
    kept = short_id(keep) if keep else ""
    ended = await _end(redis, account, [member for member in members if member != kept])
    await wait_for_replicas(redis, index_key(account))
    return ended


async def _end(redis: Redis, account: Account, members: list[str]) -> int:
    """End the sessions of ``account`` that these index members name; how many existed."""
    if not members:
        return 0
    script = cached_script(redis, scripts.END)
    keys = [index_key(account), *(session_key_of_member(account, member) for member in members)]
    ended, *cookie_records = await script(keys=keys, args=members)
    # Their own slot, so not in the script: a cookie record without its
    # session authenticates nothing (the cookie check needs both).
    await _delete_cookie_records(redis, cookie_records)
    return int(ended)


async def _delete_cookie_records(redis: Redis, keys: list[str]) -> None:
    """Delete these cookie records in one round trip (each in its own slot: no multi-key DEL on a cluster)."""
    if not keys:
        return
    async with redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.delete(key)
        await pipe.execute()


async def list_sessions(redis: Redis, account: Account) -> list[SessionRecord]:
    """``account``'s live sessions, oldest first; ids of expired ones are dropped from the index."""
    index = index_key(account)
    members = cast(list[tuple[str, float]], await redis.zrange(index, 0, -1, withscores=True))
    async with redis.pipeline(transaction=False) as pipe:
        for member, _ in members:
            pipe.hmget(session_key_of_member(account, member), ["s", "c", "r", "a", "i"])
        replies = await pipe.execute()
    records = [(reply[0], record_client(*reply[1:])) for reply in replies]
    digests = sorted({client[1] for seen, client in records if seen is not None and client[1]})
    found = await agents.read(redis, account, digests)
    live: list[SessionRecord] = []
    gone: list[str] = []
    for (member, created), (seen, (_, digest, ip)) in zip(members, records, strict=True):
        if seen is None:
            gone.append(member)
            continue
        live.append(
            SessionRecord(
                id=long_id(member),
                created_at=_iso(created),
                last_seen_at=_iso(max(created, float(seen))),
                user_agent=found.get(digest, "") if digest else "",
                ip=ip or "",
            )
        )
    if gone:
        await redis.zrem(index, *gone)
    return live


def _iso(microseconds: float) -> str:
    seconds, fraction = divmod(int(microseconds), 1_000_000)
    moment = datetime.fromtimestamp(seconds, UTC).replace(microsecond=fraction)
    return moment.isoformat(timespec="microseconds")
