"""Declared authentication for resources: ``method_decorators = [authenticated]``."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from flask import g, request

from service import runtime
from service.auth.sessions import Principal, check_session
from service.auth.tokens import decode_token
from service.errors import Unauthorized

Handler = TypeVar("Handler", bound=Callable[..., Awaitable[Any]])


def authenticated(method: Handler) -> Handler:
    """Run ``method`` only for a caller with a live access token; sets ``g.principal``."""

    @functools.wraps(method)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        g.principal = await authenticate()
        return await method(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


async def authenticate() -> Principal:
    """The caller of this request, from its bearer token; 401 otherwise."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Send 'Authorization: Bearer <access token>'.")
    rt = runtime.current()
    claims = decode_token(rt.settings, token.strip(), token_type="access")
    if not await check_session(rt.redis, claims):
        raise Unauthorized("The token has been revoked.")
    return Principal(claims.user_id, claims.session_id)


def principal() -> Principal:
    """The authenticated caller; only inside an ``authenticated`` method."""
    return g.principal
