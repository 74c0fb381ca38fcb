"""Personal access tokens: create, list, revoke, and authenticate a request with one.

A token is ``pat_`` and 256 random bits (base64url); the database keeps only
its SHA-256. The hot path is one Redis round trip: a verdict cached under
the digest (account, scopes, expiry, id) plus, once a minute, the mark that
lets this request update ``last_used_at``. Revoking writes ``revoked_at`` in
the database first and then a tombstone over the verdict, which a cache
fill (``SET NX``) can never overwrite; after a Redis flush the database
answers again, and it says revoked, so nothing revoked comes back.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, exists, select, update

from service.auth.credentials import check_current_password
from service.auth.events import records as events
from service.auth.mfa.second_factor import require_second_factor
from service.auth.sessions import ClientInfo, Principal
from service.auth.tokens.models import PersonalAccessToken
from service.auth.tokens.schemas import TokenCreate, TokenCreated, TokenPublic
from service.errors import NotFound, Unauthorized
from service.models import utcnow
from service.redis import cached_script, wait_for_replicas
from service.serving.runtime import Runtime
from service.users.keys import Account
from service.users.models import User

PREFIX = "pat_"
_SHAPE = re.compile(r"^pat_[A-Za-z0-9_-]{43}\Z")  # token_urlsafe(32): 256 bits
# The check script touches both keys of a token, so on a cluster they must
# share a slot. The verdict keeps the name it had before the cluster layout
# (no hash tag; its slot is that of the whole key), and the last-use mark
# takes the verdict's whole name as its hash tag. A rolling deploy then has
# old and new instances reading and tombstoning the same verdict key: a
# revocation on either is seen at once by both (docs/redis-keys.md).
_VERDICT = "auth:pat:"
_USED = "auth:pat-used:"
_REVOKED = "revoked"
VERDICT_TTL = 3600  # a verdict is re-read from the database at least hourly
USED_EVERY = 60  # last_used_at is written at most once a minute

# KEYS: the verdict, the last-use mark. Returns the verdict (or false) and
# whether this request is the first of its minute to use the token.
_CHECK = """
local v = redis.call('GET', KEYS[1])
if not v or v == 'revoked' then return {v, 0} end
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) then return {v, 1} end
return {v, 0}
"""


def _verdict_key(hashed: str) -> str:
    return f"{_VERDICT}{hashed}"


def _used_key(hashed: str) -> str:
    return f"{_USED}{{{_verdict_key(hashed)}}}"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a live token grants, as cached in Redis."""

    token_id: int
    account: Account
    scopes: frozenset[str]
    expires_at: int  # Unix time
    issued_at: int

    def dump(self) -> str:
        scopes = " ".join(sorted(self.scopes))
        account = f"{self.account.user_id}|{self.account.account_key}"
        return f"{self.token_id}|{account}|{self.expires_at}|{self.issued_at}|{scopes}"

    @classmethod
    def load(cls, value: str) -> Verdict:
        token_id, user_id, key, expires_at, issued_at, scopes = value.split("|")
        account = Account(int(user_id), key)
        return cls(int(token_id), account, frozenset(scopes.split()), int(expires_at), int(issued_at))


def is_personal_token(token: str) -> bool:
    """Whether a bearer credential is meant as a personal access token (by its prefix)."""
    return token.startswith(PREFIX)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def create_token(rt: Runtime, caller: Principal, form: TokenCreate, client: ClientInfo) -> TokenCreated:
    """A new token for the caller, after checking its password (and code); the token is shown only here."""
    await check_current_password(rt, caller.account, form.current_password, client)
    await require_second_factor(rt, caller.account, form.code, client)
    token = PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    row = PersonalAccessToken(
        user_id=caller.user_id,
        token_hash=digest(token),
        name=form.name,
        scopes=" ".join(sorted(set(form.scopes))),
        created_at=now,
        expires_at=now + timedelta(seconds=form.expires_in),
    )
    async with rt.db.unit_of_work() as unit:
        unit.add(row)
        await events.record(unit, caller.account, "token_created", client, session_id=caller.session_id)
    return TokenCreated(**_public(row).model_dump(), token=token)


async def list_tokens(rt: Runtime, caller: Principal) -> list[TokenPublic]:
    """The caller's tokens that are neither revoked nor expired, newest first."""
    query = (
        select(PersonalAccessToken)
        .where(_owned_by(caller.account))
        .where(PersonalAccessToken.revoked_at.is_(None))
        .where(PersonalAccessToken.expires_at > utcnow())
        .order_by(PersonalAccessToken.id.desc())
    )
    async with rt.db.unit_of_work() as unit:
        rows = (await unit.execute(query)).scalars().all()
    return [_public(row) for row in rows]


async def revoke_token(rt: Runtime, caller: Principal, token_id: int, client: ClientInfo) -> None:
    """Revoke one of the caller's tokens, at once on every instance; 404 for another's or unknown."""
    now = utcnow()
    statement = (
        update(PersonalAccessToken)
        .where(PersonalAccessToken.id == token_id, _owned_by(caller.account))
        .where(PersonalAccessToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .returning(PersonalAccessToken.token_hash, PersonalAccessToken.expires_at)
        .execution_options(synchronize_session=False)
    )
    async with rt.db.unit_of_work() as unit:
        found = (await unit.execute(statement)).first()
        if found is not None:
            await events.record(unit, caller.account, "token_revoked", client, session_id=caller.session_id)
    if found is None:
        raise NotFound("No such token.")
    await _tombstone(rt, [(found.token_hash, found.expires_at)], now)


async def revoke_all_tokens(rt: Runtime, account: Account) -> int:
    """Revoke every live token of ``account`` at once on every instance (a password reset, a deletion)."""
    now = utcnow()
    statement = (
        update(PersonalAccessToken)
        .where(_owned_by(account), PersonalAccessToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .returning(PersonalAccessToken.token_hash, PersonalAccessToken.expires_at)
        .execution_options(synchronize_session=False)
    )
    async with rt.db.unit_of_work() as unit:
        found = [(row.token_hash, row.expires_at) for row in await unit.execute(statement)]
    await _tombstone(rt, found, now)
    return len(found)


async def _tombstone(rt: Runtime, revoked: list[tuple[str, datetime]], now: datetime) -> None:
    if not revoked:
        return  # nothing written, nothing to fence: without keys the wait would go to every master
    # Overwrites any cached verdict; a concurrent fill's SET NX then loses.
    async with rt.redis.pipeline(transaction=False) as pipe:
        for token_hash, expires_at in revoked:
            remaining = max(int((expires_at - now).total_seconds()), 1)
            pipe.set(_verdict_key(token_hash), _REVOKED, ex=min(remaining, VERDICT_TTL))
        await pipe.execute()
    # Acknowledged only once replicas hold the tombstones: a failover must not revive a verdict.
    await wait_for_replicas(rt.redis, *(_verdict_key(token_hash) for token_hash, _ in revoked))


def verdict_key_for_token(token: str) -> str | None:
    """The Redis key of a well-formed token's cached verdict, for a pipeline; None if malformed."""
    return _verdict_key(digest(token)) if _SHAPE.match(token) else None


async def settle_verdict(rt: Runtime, token: str, cached: str | None) -> Verdict | None:
    """What a live token grants, given the value read at ``verdict_key_for_token``; the database on a miss."""
    now = utcnow()
    if cached == _REVOKED:
        return None
    if cached:
        verdict = Verdict.load(cached)
        return verdict if verdict.expires_at > now.timestamp() else None
    found, _ = await _fill(rt, digest(token), now)
    return found


async def authenticate(rt: Runtime, token: str) -> Principal:
    """The principal a personal access token speaks for; 401 if it is not live."""
    if not _SHAPE.match(token):
        raise Unauthorized("The personal access token is not valid.")
    verdict, first_use = await _look_up(rt, token)
    if verdict is None:
        raise Unauthorized("The personal access token is not valid, revoked or expired.")
    if first_use:
        await _mark_used(rt, verdict.token_id)
    return Principal(verdict.account, "", scopes=verdict.scopes, token_id=verdict.token_id)


async def _look_up(rt: Runtime, token: str) -> tuple[Verdict | None, bool]:
    if not _SHAPE.match(token):
        return None, False
    hashed = digest(token)
    script = cached_script(rt.redis, _CHECK)
    cached, first_use = await script(keys=[_verdict_key(hashed), _used_key(hashed)], args=[USED_EVERY])
    now = utcnow()
    if cached == _REVOKED:
        return None, False
    if cached:
        verdict = Verdict.load(cached)
        return (verdict, bool(first_use)) if verdict.expires_at > now.timestamp() else (None, False)
    return await _fill(rt, hashed, now)


async def _fill(rt: Runtime, hashed: str, now: datetime) -> tuple[Verdict | None, bool]:
    """The verdict from the database (the durable record), cached unless a tombstone is there."""
    query = (
        select(PersonalAccessToken, User.account_key)
        .join(User, User.id == PersonalAccessToken.user_id)
        .where(PersonalAccessToken.token_hash == hashed)
    )
    async with rt.db.unit_of_work() as unit:
        row = (await unit.execute(query)).first()
    if row is None:
        return None, False
    pat: PersonalAccessToken = row[0]
    if pat.revoked_at is not None or pat.expires_at <= now:
        return None, False
    expires_at = int(pat.expires_at.timestamp())
    account = Account(pat.user_id, row.account_key)
    issued_at = int(pat.created_at.timestamp())
    verdict = Verdict(pat.id, account, frozenset(pat.scopes.split()), expires_at, issued_at)
    ttl = max(min(expires_at - int(now.timestamp()), VERDICT_TTL), 1)
    async with rt.redis.pipeline(transaction=False) as pipe:
        pipe.set(_verdict_key(hashed), verdict.dump(), nx=True, ex=ttl)
        pipe.set(_used_key(hashed), "1", nx=True, ex=USED_EVERY)
        stored, first_use = await pipe.execute()
    if not stored:
        # Someone wrote first: perhaps a revocation's tombstone. Trust Redis.
        again = await rt.redis.get(_verdict_key(hashed))
        if again != verdict.dump():
            return None, False
    return verdict, bool(first_use)


async def _mark_used(rt: Runtime, token_id: int) -> None:
    statement = (
        update(PersonalAccessToken)
        .where(PersonalAccessToken.id == token_id)
        .values(last_used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    async with rt.db.unit_of_work() as unit:
        await unit.execute(statement)


def _owned_by(account: Account) -> ColumnElement[bool]:
    """The account's tokens, by id and key: an earlier account with the same id owns none of them."""
    of_account = (User.id == PersonalAccessToken.user_id) & (User.account_key == account.account_key)
    return (PersonalAccessToken.user_id == account.user_id) & exists().where(of_account)


def _public(row: PersonalAccessToken) -> TokenPublic:
    return TokenPublic(
        id=row.id,
        name=row.name,
        scopes=sorted(row.scopes.split()),
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
    )
