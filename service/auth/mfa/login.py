"""The second step of a login: an ``mfa_token`` from the first, redeemed with a code.

The token is random, kept in Redis only as its SHA-256, for MFA_TOKEN_TTL
seconds (5 minutes by default); it names the account, the password epoch the first step read, and
which login (bearer or cookie) it continues. No login session exists until
the second step succeeds. Wrong codes count toward the login limits, and the
token dies after five of them; a right code spends it, once.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Literal

from redis.asyncio import Redis

from service.auth import limits
from service.auth.mfa import repository as mfa_repository
from service.auth.mfa.schemas import MfaChallenge, MfaLogin
from service.auth.mfa.second_factor import verify_code
from service.auth.password_epochs import PasswordEpoch
from service.auth.sessions import ClientInfo
from service.errors import Unauthorized
from service.redis import cached_script
from service.serving.runtime import Runtime
from service.users.keys import Account, is_account_key

LoginKind = Literal["bearer", "cookie"]
MAX_WRONG_CODES = 5
BAD_TOKEN = "The mfa_token is unknown, used or expired: log in again."
WRONG_CODE = "The second-factor code is wrong."
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}\Z")

# KEYS[1]: the token's record; ARGV[1]: wrong codes that kill it. Counts one
# wrong code; the record is deleted at the limit.
_WRONG = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local n = redis.call('HINCRBY', KEYS[1], 'wrong', 1)
if n >= tonumber(ARGV[1]) then redis.call('DEL', KEYS[1]) end
return n
"""


def _record_key(token: str) -> str:
    return f"auth:mfa-token:{hashlib.sha256(token.encode('ascii')).hexdigest()}"


async def challenge(
    rt: Runtime, account: Account, epoch: PasswordEpoch, username: str, kind: LoginKind
) -> MfaChallenge | None:
    """An ``mfa_token`` for an account whose second factor is on; None when it is off."""
    if not await mfa_repository.factor_on(rt.db, account):
        return None
    token = secrets.token_urlsafe(32)
    record = {
        "uid": account.user_id,
        "ak": account.account_key,
        "user": username,
        "epoch_key": epoch.key,
        "epoch": epoch.value,
        "kind": kind,
        "wrong": 0,
    }
    async with rt.redis.pipeline(transaction=True) as pipe:
        pipe.hset(_record_key(token), mapping=record)  # type: ignore[arg-type]  # redis-py: invariant key type
        pipe.expire(_record_key(token), rt.settings.mfa_token_ttl)
        await pipe.execute()
    return MfaChallenge(mfa_token=token, expires_in=rt.settings.mfa_token_ttl)


async def redeem(
    rt: Runtime, form: MfaLogin, client: ClientInfo, kind: LoginKind
) -> tuple[Account, PasswordEpoch]:
    """The account and epoch an ``mfa_token`` and a right code prove; 401 otherwise, 429 over the limits."""
    if _TOKEN.match(form.mfa_token) is None:
        raise Unauthorized(BAD_TOKEN)
    key = _record_key(form.mfa_token)
    record = await _read(rt.redis, key)
    if record is None or record.get("kind") != kind:
        raise Unauthorized(BAD_TOKEN)
    account = Account(int(record["uid"]), record["ak"])
    username = record["user"]
    await limits.count_attempt(rt.redis, rt.settings, username=username, ip=client.ip)
    state = await mfa_repository.factor_state(rt.db, account)
    if state is None or not state.confirmed or state.secret_encrypted is None:
        await rt.redis.delete(key)  # the account or its factor went away since the first step
        raise Unauthorized(BAD_TOKEN)
    if not await verify_code(rt, account, state.secret_encrypted, form.code):
        await cached_script(rt.redis, _WRONG)(keys=[key], args=[MAX_WRONG_CODES])
        raise Unauthorized(WRONG_CODE)
    await limits.refund_attempt(rt.redis, username=username, ip=client.ip)
    if not await rt.redis.delete(key):  # spent by a parallel request meanwhile
        raise Unauthorized(BAD_TOKEN)
    return account, PasswordEpoch(record["epoch_key"], record["epoch"])


async def _read(redis: Redis, key: str) -> dict[str, str] | None:
    raw = await redis.hgetall(key)
    if not raw:
        return None
    record = {_text(k): _text(v) for k, v in raw.items()}
    if not (record.get("uid", "").isdigit() and is_account_key(record.get("ak"))):
        return None
    return record


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
