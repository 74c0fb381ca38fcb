"""HTTP resources of the email flows: the address, its verification, password recovery."""

from __future__ import annotations

from typing import Any

from service.auth.email import addresses, recovery
from service.auth.email.schemas import Accepted, ForgotPassword, ResetPassword, VerifyEmail
from service.auth.guard import client_info, principal
from service.resources import API, AsyncResource, operation
from service.serving import runtime
from service.users.schemas import EmailChange

# One body for every forgot request: whether an account has the address is not said.
FORGOT_ANSWER = "If an account has this confirmed address, a link to reset its password is on its way."
TOKEN_ERRORS = {400: "The link is invalid, already used or expired; ask for a new one."}


class MyEmail(AsyncResource):
    @operation(
        f"{API}/users/me/email",
        "Change the caller's address (confirmed by a mailed link)",
        auth="either",
        body=EmailChange,
        status=202,
        returns=Accepted,
        errors={
            403: "The current password is wrong.",
            409: "That address belongs to another account.",
            429: "Too many login attempts; try again in 60 seconds.",
        },
    )
    async def put(self, form: EmailChange) -> Any:
        await addresses.change_email(runtime.current(), principal(), form, client_info())
        return Accepted(detail="A link to confirm the new address is on its way to it.")


class EmailVerification(AsyncResource):
    @operation(
        f"{API}/auth/email/verification",
        "Mail a new verification link to the caller's address",
        auth="either",
        status=202,
        returns=Accepted,
        errors={
            409: "The address is already confirmed.",
            422: "email: the account has no address: set one with PUT /api/v1/users/me/email",
        },
    )
    async def post(self) -> Any:
        await addresses.request_verification(runtime.current(), principal())
        return Accepted(detail="A link to confirm the address is on its way to it.")


class EmailVerify(AsyncResource):
    @operation(
        f"{API}/auth/email/verify",
        "Confirm an address with the mailed token",
        body=VerifyEmail,
        status=204,
        errors=TOKEN_ERRORS,
    )
    async def post(self, form: VerifyEmail) -> None:
        await addresses.verify(runtime.current(), form.token, client_info())


class PasswordForgot(AsyncResource):
    @operation(
        f"{API}/auth/password/forgot",
        "Mail a password reset link to a confirmed address",
        body=ForgotPassword,
        status=202,
        returns=Accepted,
        errors={429: "Too many reset requests; try again in 60 seconds."},
    )
    async def post(self, form: ForgotPassword) -> Any:
        await recovery.forgot(runtime.current(), form.email, client_info())
        return Accepted(detail=FORGOT_ANSWER)


class PasswordReset(AsyncResource):
    @operation(
        f"{API}/auth/password/reset",
        "Set a new password with the mailed token; every session ends",
        body=ResetPassword,
        status=204,
        errors=TOKEN_ERRORS,
    )
    async def post(self, form: ResetPassword) -> None:
        await recovery.reset(runtime.current(), form.token, form.new_password, client_info())
