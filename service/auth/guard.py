"""Declared authentication for resources: ``@operation(..., auth="either")`` wraps them in ``authenticated``.

A request authenticates with a bearer access token or, failing that, with a
cookie login. Either way the login session must still be live in Redis:
one round trip that also marks it seen. Cookie requests that change state
must echo the session's CSRF token, which a cross-site page cannot read.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from flask import g, request
from flask import session as cookie_data

from service.auth.cookie_login import cookie_principal
from service.auth.sessions import ClientInfo, Principal, touch_session
from service.auth.tokens import personal as personal_tokens
from service.auth.tokens.jwts import decode_token
from service.errors import Forbidden, Unauthorized
from service.serving import runtime

Handler = TypeVar("Handler", bound=Callable[..., Awaitable[Any]])
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def authenticated(method: Handler, mode: str = "either", scopes: tuple[str, ...] = ()) -> Handler:
    """Run ``method`` only for a caller with a live login (or a token with one of ``scopes``)."""

    @functools.wraps(method)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        caller = await authenticate(mode)
        if caller.scopes is not None:
            require_scope(caller.scopes, scopes)
        g.principal = caller
        return await method(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


async def authenticate(mode: str = "either") -> Principal:
    """The caller of this request, from its bearer token or its cookie login (``mode``); 401 otherwise."""
    if mode == "cookie":
        return await _from_cookie()
    if mode == "bearer" or "Authorization" in request.headers or "sid" not in cookie_data:
        return await _from_bearer()
    return await _from_cookie()


def require_scope(granted: frozenset[str], needed: tuple[str, ...]) -> None:
    """403 unless a personal access token's scopes include one of the operation's."""
    if not needed:
        # Sessions, tokens, password, email, second factor, the account: never with a PAT.
        raise Forbidden("A personal access token cannot call this endpoint; use a login session.")
    if granted.isdisjoint(needed):
        raise Forbidden(f"The personal access token lacks the scope {' or '.join(map(repr, needed))}.")


async def _from_bearer() -> Principal:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Send 'Authorization: Bearer <access token>' or log in with a cookie session.")
    rt = runtime.current()
    if personal_tokens.is_personal_token(token.strip()):
        return await personal_tokens.authenticate(rt, token.strip())
    claims = decode_token(rt.settings, token.strip(), token_type="access")
    caller = Principal.of(claims)
    if not await touch_session(rt.redis, caller, seen_every=rt.settings.session_seen_interval):
        raise Unauthorized("The token has been revoked.")
    return caller


async def _from_cookie() -> Principal:
    found = cookie_principal()
    if found is None:
        # Cookies from before account keys have no "ak": log in again once.
        raise Unauthorized("The session is not valid; log in again.")
    caller, csrf = found
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), csrf.encode()):
            raise Forbidden(f"Send the session's CSRF token in the {CSRF_HEADER} header.")
    rt = runtime.current()
    if not await touch_session(rt.redis, caller, seen_every=rt.settings.session_seen_interval):
        raise Unauthorized("The session has ended; log in again.")
    return caller


def principal() -> Principal:
    """The authenticated caller; only inside an ``authenticated`` method."""
    caller: Principal = g.principal
    return caller


def client_info() -> ClientInfo:
    """The user agent and address of this request's client, for the session list."""
    # remote_addr is the peer, or the client as a trusted proxy reports it
    # once a ProxyFix sits in front; X-Forwarded-For is never read here.
    return ClientInfo(request.headers.get("User-Agent", ""), request.remote_addr or "unknown")
