"""JWT access and refresh tokens, signed by the deployment's key ring (EdDSA or ES256, pinned).

A token is trusted only once its signature verified and every claim has
the type and shape this module issues: PyJWT accepts, for instance, an
``exp`` that is a numeric string, which must not reach a comparison or the
cache of verified tokens.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeGuard

import jwt

from config.settings import Settings
from service.auth.tokens.cache import VerifiedTokens
from service.auth.tokens.signed import TokenSigner
from service.auth.tokens.signing_keys import load_key_ring
from service.errors import Unauthorized
from service.users.keys import Account, is_account_key

# "ak" is the account key: tokens issued before it existed are not valid
# (their users log in again once), since a bare id may name another account.
REQUIRED_CLAIMS = ["exp", "iat", "sub", "ak", "jti", "typ", "sid"]
TokenType = Literal["access", "refresh"]
_TOKEN_TYPES = ("access", "refresh")
_ID = re.compile(r"^[0-9a-f]{32}\Z")  # what new_id draws: token ids
# What new_session_id draws, or (sessions started before) new_id.
_SESSION_ID = re.compile(r"^[0-9a-f]{16}(?:[0-9a-f]{16})?\Z")
_USER_ID = re.compile(r"^[1-9][0-9]{0,17}\Z")  # canonical, and within a 64-bit column
_verified = VerifiedTokens()


@dataclass(frozen=True, slots=True)
class Claims:
    """What a verified token says."""

    account: Account
    session_id: str
    token_id: str
    token_type: TokenType
    expires_at: int
    issued_at: int = 0


def new_id() -> str:
    """A fresh token id: 32 lowercase hex characters."""
    return uuid.uuid4().hex


def new_session_id() -> str:
    """A fresh session id: 64 random bits as 16 lowercase hex characters.

    Not a secret (the session list shows it, tokens carry it signed): it need
    only never name another session of the same account, and every session
    pays Redis for its bytes twice (its key and its index entry).
    """
    return secrets.token_hex(8)


def successor_id(token_id: str, token_type: TokenType) -> str:
    """The id of the token that replaces ``token_id`` on refresh: the same for every presentation.

    Derived, not drawn, so a refresh presented again within the grace window
    re-issues the identical pair and nothing presentable need be stored.
    """
    return hashlib.sha256(f"{token_type}:{token_id}".encode()).hexdigest()[:32]


@functools.lru_cache(maxsize=8)
def _signer(signing_keys: str, production: bool, issuer: str, audience: str) -> TokenSigner:
    ring = load_key_ring(signing_keys, production=production, key_dir=Path("var"))
    return TokenSigner(ring, issuer, audience)


def signer_for(settings: Settings) -> TokenSigner:
    """The deployment's signer: its keys are read once per process and setting."""
    return _signer(settings.signing_keys, settings.is_production, settings.issuer, settings.token_audience)


def _verifier(signer: TokenSigner) -> str:
    """Names the keys, issuer and audience a token verified under, for the cache of verified tokens."""
    return " ".join([signer.issuer, signer.audience, *(key.kid for key in signer.ring.keys)])


def is_id(value: object) -> TypeGuard[str]:
    """Whether ``value`` has the form of an id from ``new_id``."""
    return isinstance(value, str) and _ID.match(value) is not None


def is_session_id(value: object) -> TypeGuard[str]:
    """Whether ``value`` has the form of a session id, from ``new_session_id`` or (before) ``new_id``."""
    return isinstance(value, str) and _SESSION_ID.match(value) is not None


def issue_token(
    settings: Settings,
    *,
    account: Account,
    session_id: str,
    token_type: TokenType,
    now: int | None = None,
    token_id: str | None = None,
) -> tuple[str, Claims]:
    """A signed token of ``token_type`` for a login session of ``account``.

    Equal arguments (with ``now`` and ``token_id`` given) give the identical token.
    """
    issued = int(time.time()) if now is None else now
    lifetime = settings.access_token_ttl if token_type == "access" else settings.refresh_token_ttl
    claims = Claims(account, session_id, token_id or new_id(), token_type, issued + lifetime, issued)
    payload = {
        "sub": str(account.user_id),  # RFC 7519 wants a string; PyJWT 2.10+ enforces it
        "ak": account.account_key,
        "sid": session_id,
        "jti": claims.token_id,
        "typ": token_type,
        "iat": issued,
        "exp": claims.expires_at,
    }
    return signer_for(settings).sign(payload), claims


def decode_token(settings: Settings, token: str, *, token_type: TokenType) -> Claims:
    """Verify signature, expiry, every claim's type and shape, and the token type; 401 on any failure."""
    signer = signer_for(settings)
    verifier = _verifier(signer)
    claims = _verified.get(verifier, token, time.time())
    if claims is None:
        try:
            payload = signer.verify(token, require=REQUIRED_CLAIMS)
        except jwt.ExpiredSignatureError:
            raise Unauthorized("The token has expired.") from None
        except jwt.InvalidTokenError:
            raise Unauthorized("The token is not valid.") from None
        claims = _claims(payload)
        if claims is None:
            raise Unauthorized("The token is not valid.")
        _verified.put(verifier, token, claims)
    if claims.token_type != token_type:
        raise Unauthorized(f"This endpoint needs a token of type {token_type!r}.")
    return claims


def _claims(payload: dict[str, Any]) -> Claims | None:
    """The payload as ``Claims`` if every claim is of the type and shape issued; else None."""
    times = [payload.get(name) for name in ("exp", "iat", "nbf") if name in payload]
    # bool is an int to Python, not to JSON: true is no timestamp.
    if not all(type(value) is int for value in times):
        return None
    subject, account_key, token_type = payload["sub"], payload["ak"], payload["typ"]
    if not (isinstance(subject, str) and _USER_ID.match(subject)) or not is_account_key(account_key):
        return None
    if token_type not in _TOKEN_TYPES or not is_session_id(payload["sid"]) or not is_id(payload["jti"]):
        return None
    account = Account(int(subject), account_key)
    return Claims(account, payload["sid"], payload["jti"], token_type, payload["exp"], payload["iat"])
