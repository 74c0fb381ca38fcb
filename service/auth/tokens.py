"""JWT access and refresh tokens, signed with one pinned algorithm."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Literal

import jwt

from config.settings import Settings
from service.auth.token_cache import VerifiedTokens
from service.errors import Unauthorized
from service.users.keys import NamesAccount, is_account_key

ALGORITHM = "HS256"
# "ak" is the account key: tokens issued before it existed are not valid
# (their users log in again once), since a bare id may name another account.
REQUIRED_CLAIMS = ["exp", "iat", "sub", "ak", "jti", "typ", "sid"]
TokenType = Literal["access", "refresh"]
_verified = VerifiedTokens()


@dataclass(frozen=True)
class Claims(NamesAccount):
    """What a verified token says."""

    user_id: int
    account_key: str
    session_id: str
    token_id: str
    token_type: TokenType
    expires_at: int


def new_id() -> str:
    return uuid.uuid4().hex


def issue_token(
    settings: Settings,
    *,
    user_id: int,
    account_key: str,
    session_id: str,
    token_type: TokenType,
    now: int | None = None,
) -> tuple[str, Claims]:
    """A signed token of ``token_type`` for a user's login session."""
    issued = int(time.time()) if now is None else now
    lifetime = settings.access_token_ttl if token_type == "access" else settings.refresh_token_ttl
    claims = Claims(user_id, account_key, session_id, new_id(), token_type, issued + lifetime)
    payload = {
        "sub": str(user_id),  # RFC 7519 wants a string; PyJWT 2.10+ enforces it
        "ak": account_key,
        "sid": session_id,
        "jti": claims.token_id,
        "typ": token_type,
        "iat": issued,
        "exp": claims.expires_at,
    }
    return jwt.encode(payload, settings.secret_key.get_secret_value(), algorithm=ALGORITHM), claims


def decode_token(settings: Settings, token: str, *, token_type: TokenType) -> Claims:
    """Verify signature, expiry, required claims and type; 401 on any failure."""
    payload = _verified.get(settings.secret_key.get_secret_value(), token, time.time())
    try:
        if payload is None:
            payload = jwt.decode(
                token,
                settings.secret_key.get_secret_value(),
                algorithms=[ALGORITHM],
                options={"require": REQUIRED_CLAIMS},
            )
            _verified.put(settings.secret_key.get_secret_value(), token, payload)
    except jwt.ExpiredSignatureError:
        raise Unauthorized("The token has expired.") from None
    except jwt.InvalidTokenError:
        raise Unauthorized("The token is not valid.") from None
    if payload["typ"] != token_type:
        raise Unauthorized(f"This endpoint needs a token of type {token_type!r}.")
    subject, account_key = payload["sub"], payload["ak"]
    session_id, token_id = payload["sid"], payload["jti"]
    if (
        not (subject.isascii() and subject.isdigit())
        or not is_account_key(account_key)
        or not isinstance(session_id, str)
        or not isinstance(token_id, str)
    ):
        raise Unauthorized("The token is not valid.")
    return Claims(int(subject), account_key, session_id, token_id, token_type, int(payload["exp"]))
