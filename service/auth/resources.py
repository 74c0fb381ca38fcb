"""HTTP resources for authentication: bearer tokens and the caller's login sessions."""

from __future__ import annotations

from typing import Any

from service.auth import accounts, cookies
from service.auth.guard import authenticated, client_info, principal
from service.auth.schemas import Credentials, RefreshRequest, UserCreate
from service.resources import AsyncResource, no_content
from service.serving import runtime
from service.users.schemas import UserPublic
from service.validation import parse_body

NO_STORE = {"Cache-Control": "no-store"}


class Register(AsyncResource):
    async def post(self) -> Any:
        user = await accounts.register(runtime.current(), parse_body(UserCreate))
        body = UserPublic.model_validate(user).model_dump(mode="json")
        return body, 201


class Login(AsyncResource):
    async def post(self) -> Any:
        tokens = await accounts.log_in(runtime.current(), parse_body(Credentials), client_info())
        return tokens.model_dump(), 200, NO_STORE


class Refresh(AsyncResource):
    async def post(self) -> Any:
        form = parse_body(RefreshRequest)
        tokens = await accounts.refresh(runtime.current(), form.refresh_token)
        return tokens.model_dump(), 200, NO_STORE


class Logout(AsyncResource):
    method_decorators = [authenticated]

    async def post(self) -> Any:
        await accounts.log_out(runtime.current(), principal())
        return no_content()


class LogoutAll(AsyncResource):
    method_decorators = [authenticated]

    async def post(self) -> Any:
        await accounts.log_out_everywhere(runtime.current(), principal())
        return no_content()


class Sessions(AsyncResource):
    method_decorators = [authenticated]

    async def get(self) -> Any:
        sessions = await accounts.sessions_of(runtime.current(), principal())
        return [s.model_dump(mode="json") for s in sessions]


class SessionItem(AsyncResource):
    method_decorators = [authenticated]

    async def delete(self, session_id: str) -> Any:
        await accounts.end_session_of(runtime.current(), principal(), session_id)
        return no_content()


class CookieSession(AsyncResource):
    """A browser's login: the session cookie plus a CSRF token for unsafe methods."""

    method_decorators = {"delete": [authenticated]}

    async def post(self) -> Any:
        csrf = await cookies.log_in(runtime.current(), parse_body(Credentials), client_info())
        return csrf.model_dump(), 200, NO_STORE

    async def delete(self) -> Any:
        await cookies.log_out(runtime.current(), principal())
        return no_content()
