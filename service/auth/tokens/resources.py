"""HTTP resources for tokens other services use: the JWKS, introspection and personal access tokens."""

from __future__ import annotations

from typing import Any

from flask import request

from service.auth.guard import client_info, principal
from service.auth.tokens import introspection
from service.auth.tokens import personal as personal_tokens
from service.auth.tokens.jwts import signer_for
from service.auth.tokens.schemas import IntrospectionRequest, TokenCreate, TokenCreated, TokenPublic
from service.resources import API, AsyncResource, operation
from service.serving import runtime

# Verifiers may keep the keys this long; a rotation lists the new key well before it signs.
JWKS_MAX_AGE = 300
NO_STORE = {"Cache-Control": "no-store"}


class Jwks(AsyncResource):
    @operation(
        "/.well-known/jwks.json",
        "The public keys that verify this service's tokens (JWK Set)",
        tag="tokens",
        dependencies=False,
        headers={"Cache-Control": f"public, max-age={JWKS_MAX_AGE}"},
    )
    def get(self) -> Any:
        document = signer_for(runtime.current().settings).ring.jwks()
        return document, {"Cache-Control": f"public, max-age={JWKS_MAX_AGE}"}


class Introspect(AsyncResource):
    @operation(
        f"{API}/auth/introspect",
        "Is this token live? (RFC 7662, for resource servers)",
        form=IntrospectionRequest,
        errors={401: "The introspection client's credentials are wrong.", 429: "Too many login attempts."},
    )
    async def post(self, form: IntrospectionRequest) -> Any:
        rt = runtime.current()
        authorization = request.headers.get("Authorization", "")
        return await introspection.introspect(rt, authorization, client_info(), form.token), NO_STORE


class Tokens(AsyncResource):
    @operation(
        f"{API}/auth/tokens",
        "Create a personal access token (shown once)",
        auth="either",
        body=TokenCreate,
        status=201,
        returns=TokenCreated,
        errors={403: "The current password is wrong."},
    )
    async def post(self, form: TokenCreate) -> Any:
        created = await personal_tokens.create_token(runtime.current(), principal(), form, client_info())
        return created, NO_STORE

    @operation(
        f"{API}/auth/tokens",
        "List the caller's personal access tokens",
        auth="either",
        returns=TokenPublic,
        many=True,
    )
    async def get(self) -> Any:
        return await personal_tokens.list_tokens(runtime.current(), principal())


class TokenItem(AsyncResource):
    @operation(
        f"{API}/auth/tokens/<int:token_id>",
        "Revoke one of the caller's personal access tokens",
        auth="either",
        status=204,
        errors={404: "No such token."},
    )
    async def delete(self, token_id: int) -> None:
        await personal_tokens.revoke_token(runtime.current(), principal(), token_id, client_info())
