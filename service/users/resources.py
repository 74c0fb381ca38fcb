"""HTTP resources for the caller's own account."""

from __future__ import annotations

from typing import Any

from flask import Response

from service.auth import credentials, deletion, export
from service.auth.guard import client_info, principal
from service.resources import API, AsyncResource, operation
from service.serving import runtime
from service.users import accounts
from service.users.schemas import AccountDeletion, PasswordChange, UserPublic


class Me(AsyncResource):
    @operation(
        f"{API}/users/me", "The caller's account", auth="either", scopes=("profile:read",), returns=UserPublic
    )
    async def get(self) -> Any:
        return await accounts.profile(runtime.current(), principal().account)

    @operation(
        f"{API}/users/me",
        "Delete the caller's account and everything of it",
        auth="either",
        body=AccountDeletion,
        status=204,
        errors={
            403: "The current password is wrong.",
            429: "Too many login attempts; try again in 60 seconds.",
        },
    )
    async def delete(self, form: AccountDeletion) -> None:
        caller, client = principal(), client_info()
        await deletion.delete_account(runtime.current(), caller, form.current_password, client, form.code)


class Export(AsyncResource):
    @operation(
        f"{API}/users/me/export",
        "Everything the service holds about the caller, as one JSON document (streamed)",
        auth="either",
        headers={"Content-Disposition": "attachment; filename=export.json"},
    )
    async def get(self) -> Response:
        body = await export.open_export(runtime.current(), principal())
        return Response(
            body,
            mimetype="application/json",
            headers={
                "Content-Disposition": 'attachment; filename="export.json"',
                "Cache-Control": "no-store",
            },
        )


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
