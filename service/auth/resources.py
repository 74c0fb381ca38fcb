"""HTTP resources for authentication: bearer tokens, cookie logins and the caller's login sessions."""

from __future__ import annotations

from typing import Any

from service.auth import cookie_login, logins
from service.auth.email import addresses
from service.auth.guard import client_info, principal
from service.auth.mfa.resources import answer_login
from service.auth.mfa.schemas import MfaChallenge
from service.auth.schemas import Credentials, CsrfToken, RefreshRequest, SessionPublic, TokenPair
from service.resources import API, AsyncResource, operation
from service.serving import runtime
from service.users.schemas import UserCreate, UserPublic

NO_STORE = {"Cache-Control": "no-store"}
LOGIN_ERRORS = {
    401: "Invalid username or password.",
    429: "Too many login attempts; try again in 60 seconds.",
}


class Register(AsyncResource):
    @operation(
        f"{API}/auth/register",
        "Create an account",
        body=UserCreate,
        status=201,
        returns=UserPublic,
        errors={409: "The username 'alice' is taken."},
    )
    async def post(self, form: UserCreate) -> Any:
        return await addresses.register(runtime.current(), form)


class Login(AsyncResource):
    @operation(
        f"{API}/auth/login",
        "Log in for a bearer token pair",
        body=Credentials,
        returns=TokenPair,
        also={202: MfaChallenge},
        errors=LOGIN_ERRORS,
    )
    async def post(self, form: Credentials) -> Any:
        return answer_login(await logins.log_in(runtime.current(), form, client_info()), NO_STORE)


class Refresh(AsyncResource):
    @operation(
        f"{API}/auth/refresh",
        "Spend a refresh token for a new pair",
        body=RefreshRequest,
        returns=TokenPair,
        errors={401: "The refresh token was already used; the session has been revoked."},
    )
    async def post(self, form: RefreshRequest) -> Any:
        return await logins.refresh(runtime.current(), form.refresh_token, client_info()), NO_STORE


class Logout(AsyncResource):
    @operation(f"{API}/auth/logout", "End this session", auth="either", status=204)
    async def post(self) -> None:
        await logins.log_out(runtime.current(), principal(), client_info())


class LogoutAll(AsyncResource):
    @operation(f"{API}/auth/logout-all", "End every session of the caller", auth="either", status=204)
    async def post(self) -> None:
        await logins.log_out_everywhere(runtime.current(), principal(), client_info())


class Sessions(AsyncResource):
    @operation(
        f"{API}/auth/sessions",
        "List the caller's sessions",
        auth="either",
        returns=SessionPublic,
        many=True,
        links={
            "EndFirstSession": {
                "operationId": "delete_auth_sessions_session_id",
                "parameters": {"session_id": "$response.body#/0/id"},
            }
        },
    )
    async def get(self) -> Any:
        return await logins.sessions_of(runtime.current(), principal())


class SessionItem(AsyncResource):
    @operation(
        f"{API}/auth/sessions/<string:session_id>",
        "End one of the caller's sessions",
        auth="either",
        status=204,
        errors={404: "No such session."},
    )
    async def delete(self, session_id: str) -> None:
        await logins.end_session_of(runtime.current(), principal(), session_id, client_info())


class CookieSession(AsyncResource):
    """A browser's login: the session cookie plus a CSRF token for unsafe methods."""

    @operation(
        f"{API}/session",
        "Log in with a cookie session (browsers)",
        body=Credentials,
        returns=CsrfToken,
        also={202: MfaChallenge},
        errors=LOGIN_ERRORS,
        headers={"Set-Cookie": "The session cookie (HttpOnly, SameSite=Lax, Secure in production)."},
    )
    async def post(self, form: Credentials) -> Any:
        return answer_login(
            await cookie_login.log_in_cookie(runtime.current(), form, client_info()), NO_STORE
        )

    @operation(f"{API}/session", "Log out of the cookie session", auth="either", status=204)
    async def delete(self) -> None:
        await cookie_login.log_out_cookie(runtime.current(), principal(), client_info())
