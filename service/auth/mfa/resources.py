"""HTTP resources of the second factor: enrol, confirm, turn off, the QR code, the logins' second step."""

from __future__ import annotations

from typing import Any

from flask import Response, make_response

from service.auth import cookie_login, logins
from service.auth.guard import client_info, principal
from service.auth.mfa import enrolment as mfa
from service.auth.mfa.schemas import (
    MfaChallenge,
    MfaLogin,
    RecoveryCodes,
    TotpConfirm,
    TotpDisable,
    TotpEnrol,
    TotpEnrolment,
)
from service.auth.schemas import CsrfToken, TokenPair
from service.resources import API, AsyncResource, operation
from service.serving import runtime

NO_STORE = {"Cache-Control": "no-store"}
CODE_ERRORS = {
    401: "The second-factor code is wrong.",
    429: "Too many login attempts; try again in 60 seconds.",
}


def answer_login(result: Any, headers: dict[str, str]) -> Any:
    """A login's answer: its result as declared, or 202 with the challenge when a code is needed."""
    if isinstance(result, MfaChallenge):
        response: Response = make_response(result.model_dump(mode="json"), 202)
        response.headers.update(headers)
        return response
    return result, headers


class TotpFactor(AsyncResource):
    @operation(
        f"{API}/auth/mfa/totp",
        "Enrol a TOTP second factor (pending until confirmed)",
        auth="either",
        body=TotpEnrol,
        returns=TotpEnrolment,
        errors={403: "The current password is wrong.", 409: mfa.ALREADY_ON, 429: CODE_ERRORS[429]},
    )
    async def post(self, form: TotpEnrol) -> Any:
        return await mfa.enrol(runtime.current(), principal(), form, client_info()), NO_STORE

    @operation(
        f"{API}/auth/mfa/totp",
        "Turn the second factor off",
        auth="either",
        body=TotpDisable,
        status=204,
        errors={403: "The second-factor code is wrong.", 429: CODE_ERRORS[429]},
    )
    async def delete(self, form: TotpDisable) -> None:
        await mfa.disable(runtime.current(), principal(), form, client_info())


class TotpConfirmation(AsyncResource):
    @operation(
        f"{API}/auth/mfa/totp/confirm",
        "Confirm the pending TOTP factor with a code; the recovery codes, shown once",
        auth="either",
        body=TotpConfirm,
        returns=RecoveryCodes,
        errors={400: "The code is wrong: enter the one your authenticator shows now.", 409: mfa.ALREADY_ON},
    )
    async def post(self, form: TotpConfirm) -> Any:
        return await mfa.confirm(runtime.current(), principal(), form, client_info()), NO_STORE


class TotpQrCode(AsyncResource):
    @operation(
        f"{API}/auth/mfa/totp/qr",
        "The pending enrolment's otpauth URI as a QR code (SVG)",
        auth="either",
        media_type="image/svg+xml",
        errors={404: "No second factor is pending."},
    )
    async def get(self) -> Response:
        svg = await mfa.pending_qr_svg(runtime.current(), principal())
        return Response(svg, mimetype="image/svg+xml", headers=NO_STORE)


class LoginMfa(AsyncResource):
    @operation(
        f"{API}/auth/login/mfa",
        "Second step of a bearer login: the mfa_token and a code for the token pair",
        body=MfaLogin,
        returns=TokenPair,
        errors=CODE_ERRORS,
    )
    async def post(self, form: MfaLogin) -> Any:
        return await logins.log_in_mfa(runtime.current(), form, client_info()), NO_STORE


class CookieSessionMfa(AsyncResource):
    @operation(
        f"{API}/session/mfa",
        "Second step of a cookie login: the mfa_token and a code for the cookie",
        body=MfaLogin,
        returns=CsrfToken,
        errors=CODE_ERRORS,
        headers={"Set-Cookie": "The session cookie (HttpOnly, SameSite=Lax, Secure in production)."},
    )
    async def post(self, form: MfaLogin) -> Any:
        return await cookie_login.log_in_cookie_mfa(runtime.current(), form, client_info()), NO_STORE
