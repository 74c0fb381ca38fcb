"""Single-use tokens mailed in links: email verification and password reset.

A token is 256 random bits (43 URL-safe characters). Redis holds only its
SHA-256 (the key), never the token, with a TTL; a per-account pointer names
the newest token of each purpose, so issuing one deletes the older. The
record and the pointer live in different cluster slots (a link names the
token, not the account), so issuing takes single-key steps: store the new
record, swap the pointer (SET ... GET, atomic), then delete what the swap
returned. Of two racing issues, each deletes the token it replaced, so only
the pointer's last token survives, provided a token's record is stored before
the pointer names it: the steps are awaited in turn (redis-py sends a cluster
pipeline's batches to their nodes concurrently). Spending is GETDEL: of two
requests with one token, one wins.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from typing import Literal, cast

from redis.asyncio import Redis

from service.errors import BadRequest
from service.users.keys import Account

Purpose = Literal["verify", "reset"]
TOKEN_LENGTH = 43  # secrets.token_urlsafe(32)
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}\Z")
INVALID = "The link is invalid, already used or expired; ask for a new one."


@dataclass(frozen=True)
class TokenRecord:
    """What a token stands for: an account, the address it was mailed to, the password it knew."""

    account: Account
    address: str
    password: str  # a keyed digest of the password hash when issued (reset tokens)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _prefix(purpose: Purpose) -> str:
    return f"mail:token:{purpose}:"


def _pointer(purpose: Purpose, account: Account) -> str:
    return f"mail:token-of:{purpose}:{account.redis_name}"


def password_fingerprint(secret: str, password_hash: str) -> str:
    """A keyed digest of the password hash: a reset token dies once the password changed by any path."""
    return hmac.new(secret.encode(), password_hash.encode(), hashlib.sha256).hexdigest()[:32]


async def issue(
    redis: Redis, purpose: Purpose, account: Account, *, address: str, ttl: int, password: str = ""
) -> str:
    """A new token of ``purpose`` for ``account``; the older one of that purpose stops working."""
    token = secrets.token_urlsafe(32)
    digest = _digest(token)
    record = json.dumps({"uid": account.user_id, "ak": account.account_key, "to": address, "pw": password})
    # Awaited in turn, not pipelined: a cluster sends a pipeline's batches to
    # their nodes at once, and a racing issue could then swap this token out
    # and delete its record before the record's SET lands, bringing it back.
    await redis.set(_prefix(purpose) + digest, record, ex=ttl)
    older = cast(str | None, await redis.set(_pointer(purpose, account), digest, ex=ttl, get=True))
    if older:
        await redis.delete(_prefix(purpose) + older)
    return token


def _checked(token: str) -> str:
    """The token's key part; 400 for anything that cannot be a token (no Redis look-up)."""
    if not _TOKEN.match(token):
        raise BadRequest(INVALID)
    return _digest(token)


def _parse(raw: bytes | str | None) -> TokenRecord:
    if raw is None:
        raise BadRequest(INVALID)
    data = json.loads(raw)
    return TokenRecord(Account(int(data["uid"]), str(data["ak"])), str(data["to"]), str(data["pw"]))


async def peek(redis: Redis, purpose: Purpose, token: str) -> TokenRecord:
    """What a live token stands for, leaving it live; 400 when unknown, used or expired."""
    return _parse(await redis.get(_prefix(purpose) + _checked(token)))


async def spend(redis: Redis, purpose: Purpose, token: str) -> TokenRecord:
    """Use the token up: 400 when unknown, used or expired (or spent meanwhile by another request)."""
    return _parse(await redis.getdel(_prefix(purpose) + _checked(token)))
