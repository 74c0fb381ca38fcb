"""HTTP resources for the caller's own account."""

from __future__ import annotations

from typing import Any

from service.auth import accounts
from service.auth.guard import authenticated, client_info, principal
from service.auth.schemas import PasswordChange
from service.errors import Unauthorized
from service.resources import AsyncResource, no_content
from service.serving import runtime
from service.users import repository
from service.users.schemas import UserPublic
from service.validation import parse_body


class Me(AsyncResource):
    method_decorators = [authenticated]

    async def get(self) -> Any:
        caller = principal()
        user = await repository.get_user(runtime.current().db, caller.user_id, caller.account_key)
        if user is None:  # deleted since the token was issued, or an earlier account with this id
            raise Unauthorized("The account no longer exists.")
        return UserPublic.model_validate(user).model_dump(mode="json")


class Password(AsyncResource):
    method_decorators = [authenticated]

    async def put(self) -> Any:
        form = parse_body(PasswordChange)
        await accounts.change_password(runtime.current(), principal(), form, client_info())
        return no_content()
