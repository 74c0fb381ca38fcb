"""Token introspection (RFC 7662) for resource servers: is this token live, and whose is it?

Answered from the same Redis state as the service's own checks, so a logout
or a revoked personal token is ``active: false`` at once on every instance.
Callers authenticate with HTTP Basic credentials from INTROSPECTION_CLIENTS,
compared in constant time in the process, before Redis is asked anything.
Then one pipeline (which a cluster client splits per node) reads the token
and, for a wrong secret, counts the failure against the login limits like a
password (the limiter's atomic take), or, for a right one, reads the same
counters. Redis runs them in the order they arrive, so a right secret is
answered only while fewer failures than the limit landed before it, however
many guesses are in flight together. A limited client gets the same 429
after the same round trips for a right and a wrong secret, so the answer's
timing does not tell it which of its guesses was right.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Any

from redis.asyncio.client import Pipeline

from service.auth import limits
from service.auth.sessions import ClientInfo, is_live, liveness_read
from service.auth.tokens import personal as personal_tokens
from service.auth.tokens.jwts import Claims, decode_token
from service.errors import Unauthorized
from service.serving.runtime import Runtime

INACTIVE: dict[str, Any] = {"active": False}


class ClientUnauthorized(Unauthorized):
    """A 401 for an introspection call without valid client credentials."""

    headers = {"WWW-Authenticate": 'Basic realm="introspection", charset="UTF-8"'}


def clients(value: str) -> list[tuple[bytes, bytes]]:
    """INTROSPECTION_CLIENTS as (id, secret) pairs."""
    pairs = []
    for entry in value.split(","):
        client, _, secret = entry.strip().partition(":")
        if client and secret:
            pairs.append((client.encode(), secret.encode()))
    return pairs


def _basic(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    client, sep, secret = decoded.partition(":")
    return (client, secret) if sep and client else None


async def introspect(rt: Runtime, authorization: str, client: ClientInfo, token: str) -> dict[str, Any]:
    """RFC 7662's answer for ``token``: its claims while live, else exactly ``{"active": false}``.

    401 with ``WWW-Authenticate: Basic`` without valid client credentials, 429 while the client is limited.
    """
    client_id, matched = _check_client(rt, authorization)
    settings = rt.settings
    # Per client and address: guesses from elsewhere must not lock the real client out.
    limit_name = f"introspection-client:{client_id}@{client.ip}"
    counters = {
        limits.username_counter_key(limit_name): settings.login_max_per_account,
        limits.address_counter_key(client.ip): settings.login_max_per_ip,
    }
    is_personal = personal_tokens.is_personal_token(token)
    pat_key = personal_tokens.verdict_key_for_token(token) if is_personal else None
    claims = None if pat_key is not None else _claims(rt, token)
    async with rt.redis.pipeline(transaction=False) as pipe:
        # A wrong secret is counted, a right one only read, in the one round
        # trip that reads the token either way. A right secret is never
        # counted: resource servers introspect at high rates, and a take
        # refunded later would let their own calls meet 429s.
        queued = limits.queue_attempt(pipe, settings.login_window, counters, count=not matched)
        _queue_token_read(pipe, claims, pat_key)
        found = await pipe.execute()
    wait = await limits.settle_attempt(
        rt.redis, settings.login_window, counters, found[:queued], counted=not matched
    )
    if wait:
        raise limits.too_many_logins(wait)
    if not matched:
        raise ClientUnauthorized("The introspection client's credentials are wrong.")
    token_read = found[queued:]
    if pat_key is not None:
        return await _personal_answer(rt, token, token_read[0])
    if claims is None or not is_live(claims, token_read[0]):
        return INACTIVE
    answer = _active(
        claims.account.user_id, claims.expires_at, claims.issued_at, claims.token_id, claims.token_type
    )
    return {**answer, "sid": claims.session_id}


def _check_client(rt: Runtime, authorization: str) -> tuple[str, bool]:
    """The client id as sent, and whether its secret is right; 401 without HTTP Basic credentials."""
    given = _basic(authorization)
    if given is None:
        raise ClientUnauthorized("Send the introspection client's id and secret with HTTP Basic.")
    client_id, secret = given
    sent_id, sent_secret = client_id.encode("utf-8", "replace"), secret.encode("utf-8", "replace")
    matched = False
    # Every pair is compared, each in constant time: the answer's timing names no client.
    for known_id, known_secret in clients(rt.settings.introspection_clients.get_secret_value()):
        same_id = hmac.compare_digest(sent_id, known_id)
        same_secret = hmac.compare_digest(sent_secret, known_secret)
        matched |= same_id and same_secret
    return client_id, matched


def _queue_token_read(pipe: Pipeline, claims: Claims | None, pat_key: str | None) -> None:
    if pat_key is not None:
        # A plain read: introspecting a token is not its holder's use of it.
        pipe.get(pat_key)
    elif claims is not None:
        pipe.hmget(*liveness_read(claims))


async def _personal_answer(rt: Runtime, token: str, cached: str | None) -> dict[str, Any]:
    verdict = await personal_tokens.settle_verdict(rt, token, cached)
    if verdict is None:
        return INACTIVE
    answer = _active(
        verdict.account.user_id, verdict.expires_at, verdict.issued_at, str(verdict.token_id), "personal"
    )
    return {**answer, "scope": " ".join(sorted(verdict.scopes))}


def _active(user_id: int, expires_at: int, issued_at: int, token_id: str, token_type: str) -> dict[str, Any]:
    """The members of RFC 7662's answer that every live token has."""
    return {
        "active": True,
        "sub": str(user_id),
        "exp": expires_at,
        "iat": issued_at,
        "jti": token_id,
        "typ": token_type,
    }


def _claims(rt: Runtime, token: str) -> Claims | None:
    for kind in ("access", "refresh"):
        try:
            return decode_token(rt.settings, token, token_type=kind)
        except Unauthorized:
            continue
    return None
