"""HTTP resources for the caller's own account."""

from __future__ import annotations

from typing import Any

from service.auth import credentials
from service.auth.guard import client_info, principal
from service.resources import API, AsyncResource, operation
from service.serving import runtime
from service.users import accounts
from service.users.schemas import PasswordChange, UserPublic


class Me(AsyncResource):
    @operation(
        f"{API}/users/me", "The caller's account", auth="either", scopes=("profile:read",), returns=UserPublic
    )
    async def get(self) -> Any:
        return await accounts.profile(runtime.current(), principal().account)


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
        await credentials.change_password(runtime.current(), principal(), form, client_info())
