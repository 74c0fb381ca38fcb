"""Request and response shapes of the email flows."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from service.users.schemas import EmailAddress, check_password_bytes, password_field

# A token is 43 characters; a longer string is refused by the schema, a wrong one of any form gets a 400.
_TOKEN_FIELD = Field(min_length=1, max_length=256, description="The token from the mailed link.")


class Accepted(BaseModel):
    """A 202: the request is taken; a mail goes out from the queue."""

    detail: str


class VerifyEmail(BaseModel):
    model_config = ConfigDict(strict=True)

    token: str = _TOKEN_FIELD


class ForgotPassword(BaseModel):
    model_config = ConfigDict(strict=True)

    email: EmailAddress


class ResetPassword(BaseModel):
    model_config = ConfigDict(strict=True)

    token: str = _TOKEN_FIELD
    new_password: str = password_field()

    @field_validator("new_password")
    @classmethod
    def _password_rules(cls, password: str) -> str:
        check_password_bytes(password)
        return password
