"""HTTP resources for the caller's own account."""

from __future__ import annotations

from typing import Any

from service import runtime
from service.auth.guard import authenticated, principal
from service.errors import Unauthorized
from service.resources import AsyncResource
from service.users import repository
from service.users.schemas import UserPublic


class Me(AsyncResource):
    method_decorators = [authenticated]

    async def get(self) -> Any:
        user = await repository.get_user(runtime.current().db, principal().user_id)
        if user is None:  # deleted since the token was issued
            raise Unauthorized("The account no longer exists.")
        return UserPublic.model_validate(user).model_dump(mode="json")
