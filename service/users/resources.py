"""HTTP resources for the caller's own account."""

from __future__ import annotations

from typing import Any

from service import runtime
from service.auth import credentials
from service.auth.guard import authenticated, client_info, principal
from service.resources import AsyncResource, no_content
from service.users import accounts
from service.users.schemas import PasswordChange
from service.validation import parse_body


class Me(AsyncResource):
    method_decorators = [authenticated]

    async def get(self) -> Any:
        user = await accounts.profile(runtime.current(), principal().account)
        return user.model_dump(mode="json")


class Password(AsyncResource):
    method_decorators = [authenticated]

    async def put(self) -> Any:
        form = parse_body(PasswordChange)
        await credentials.change_password(runtime.current(), principal(), form, client_info())
        return no_content()
