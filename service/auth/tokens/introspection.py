"""Token introspection (RFC 7662) for resource servers: is this token live, and whose is it?

Answered from the same Redis state as the service's own checks, so a logout
or a revoked personal token is ``active: false`` at once on every instance;
an access token costs one Redis round trip. Callers authenticate with HTTP
Basic credentials from INTROSPECTION_CLIENTS, compared in constant time and
counted against the login limits like passwords.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Any

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


async def authenticate_client(rt: Runtime, authorization: str, client: ClientInfo) -> str:
    """The introspection client's id; 401 with ``WWW-Authenticate: Basic`` otherwise, 429 when limited."""
    given = _basic(authorization)
    if given is None:
        raise ClientUnauthorized("Send the introspection client's id and secret with HTTP Basic.")
    client_id, secret = given
    # Per client and address: guesses from elsewhere must not lock the real client out.
    limit_name = f"introspection-client:{client_id}@{client.ip}"
    await limits.count_attempt(rt.redis, rt.settings, username=limit_name, ip=client.ip)
    sent_id, sent_secret = client_id.encode("utf-8", "replace"), secret.encode("utf-8", "replace")
    matched = False
    # Every pair is compared, each in constant time: the answer's timing names no client.
    for known_id, known_secret in clients(rt.settings.introspection_clients.get_secret_value()):
        same_id = hmac.compare_digest(sent_id, known_id)
        same_secret = hmac.compare_digest(sent_secret, known_secret)
        matched |= same_id and same_secret
    if not matched:
        raise ClientUnauthorized("The introspection client's credentials are wrong.")
    await limits.refund_attempt(rt.redis, username=limit_name, ip=client.ip)
    return client_id


async def introspect(rt: Runtime, token: str) -> dict[str, Any]:
    """RFC 7662's answer for ``token``: its claims while live, else exactly ``{"active": false}``."""
    if personal_tokens.is_personal_token(token):
        verdict = await personal_tokens.verdict_of(rt, token)
        if verdict is None:
            return INACTIVE
        return {
            "active": True,
            "sub": str(verdict.account.user_id),
            "exp": verdict.expires_at,
            "iat": verdict.issued_at,
            "jti": str(verdict.token_id),
            "typ": "personal",
            "scope": " ".join(sorted(verdict.scopes)),
        }
    claims = _claims(rt, token)
    if claims is None or not await _live(rt, claims):
        return INACTIVE
    return {
        "active": True,
        "sub": str(claims.account.user_id),
        "exp": claims.expires_at,
        "iat": claims.issued_at,
        "jti": claims.token_id,
        "sid": claims.session_id,
        "typ": claims.token_type,
    }


def _claims(rt: Runtime, token: str) -> Claims | None:
    for kind in ("access", "refresh"):
        try:
            return decode_token(rt.settings, token, token_type=kind)
        except Unauthorized:
            continue
    return None


async def _live(rt: Runtime, claims: Claims) -> bool:
    """One round trip: the session still exists, is the account's, and (refresh) this is its live token."""
    return is_live(claims, await rt.redis.hmget(*liveness_read(claims)))
