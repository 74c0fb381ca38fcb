"""HTTP resources for bearer-token authentication."""

from __future__ import annotations

from typing import Any

from service import runtime
from service.auth import accounts
from service.auth.guard import authenticated, principal
from service.auth.schemas import Credentials, UserCreate
from service.resources import AsyncResource, no_content
from service.users.schemas import UserPublic
from service.validation import parse_body


class Register(AsyncResource):
    async def post(self) -> Any:
        user = await accounts.register(runtime.current(), parse_body(UserCreate))
        body = UserPublic.model_validate(user).model_dump(mode="json")
        return body, 201


class Login(AsyncResource):
    async def post(self) -> Any:
        tokens = await accounts.log_in(runtime.current(), parse_body(Credentials))
        return tokens.model_dump(), 200, {"Cache-Control": "no-store"}


class Logout(AsyncResource):
    method_decorators = [authenticated]

    async def post(self) -> Any:
        await accounts.log_out(runtime.current(), principal().session_id)
        return no_content()
