"""HTTP resources for the caller's own account."""

from __future__ import annotations

from typing import Any

from service import runtime
from service.auth import accounts
from service.auth.guard import client_info, principal
from service.auth.schemas import PasswordChange
from service.errors import Unauthorized
from service.resources import API, AsyncResource, operation
from service.users import repository
from service.users.schemas import UserPublic


class Me(AsyncResource):
    @operation(f"{API}/users/me", "The caller's account", auth="either", returns=UserPublic)
    async def get(self) -> Any:
        caller = principal()
        user = await repository.get_user(runtime.current().db, caller.user_id, caller.account_key)
        if user is None:  # deleted since the token was issued, or an earlier account with this id
            raise Unauthorized("The account no longer exists.")
        return UserPublic.model_validate(user).model_dump(mode="json")


class Password(AsyncResource):
    @operation(
        f"{API}/users/me/password",
        "Change the caller's password",
        auth="either",
        body=PasswordChange,
        status=204,
        errors={
            403: "The current password is wrong.",
            429: "Too many login attempts; try again in 60 seconds.",
        },
    )
    async def put(self, form: PasswordChange) -> None:
        await accounts.change_password(runtime.current(), principal(), form, client_info())
