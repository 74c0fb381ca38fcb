"""Request and response shapes of the second factor."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from service.auth.mfa.totp import CODE_PATTERN, TOTP_PATTERN


def code_field(*, recovery: bool = True, **default: Any) -> Any:
    """A second-factor code: 6 digits, or (where allowed) a recovery code like ``abcd-efgh-ijkl``."""
    if not recovery:
        return Field(pattern=rf"^{TOTP_PATTERN}$", description="The 6-digit code the authenticator shows.")
    return Field(
        **default,
        pattern=CODE_PATTERN,
        max_length=14,
        description="The 6-digit code the authenticator shows, or an unused recovery code (spent on use).",
    )


class TotpEnrol(BaseModel):
    model_config = ConfigDict(strict=True)

    current_password: str


class TotpEnrolment(BaseModel):
    """A pending secret: add it to an authenticator, then confirm with a code."""

    secret: str
    otpauth_uri: str


class TotpConfirm(BaseModel):
    model_config = ConfigDict(strict=True)

    code: str = code_field(recovery=False)


class RecoveryCodes(BaseModel):
    """Shown once: each code logs in once in place of a TOTP code."""

    recovery_codes: list[str]


class TotpDisable(BaseModel):
    model_config = ConfigDict(strict=True)

    current_password: str
    code: str | None = code_field(default=None)


class MfaChallenge(BaseModel):
    """A login's first step passed: send ``mfa_token`` with a code to the ``/mfa`` step."""

    mfa_required: Literal[True] = True
    mfa_token: str
    expires_in: int


class MfaLogin(BaseModel):
    model_config = ConfigDict(strict=True)

    mfa_token: str = Field(max_length=64)
    code: str = code_field()
