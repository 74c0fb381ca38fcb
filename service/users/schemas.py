"""Request and response shapes for accounts, and the rules for usernames and passwords."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

USERNAME_PATTERN = r"^[A-Za-z0-9_.-]+$"
_USERNAME = re.compile(USERNAME_PATTERN.replace("$", r"\Z"))
MAX_PASSWORD_BYTES = 72  # bcrypt ignores (bcrypt 5: refuses) anything longer


def password_field() -> Any:
    """A new password: 8 characters at least, 72 bytes of UTF-8 at most (checked by a validator)."""
    # JSON Schema counts characters, not bytes: 72 characters is the most
    # the document can say; the description gives the whole rule.
    return Field(
        min_length=8,
        json_schema_extra={
            "maxLength": MAX_PASSWORD_BYTES,
            "description": f"8 characters to {MAX_PASSWORD_BYTES} bytes once UTF-8 encoded (bcrypt's limit).",
        },
    )


def could_be_username(name: str) -> bool:
    """Whether some account could have this name (the registration rules)."""
    return 3 <= len(name) <= 32 and _USERNAME.match(name) is not None


def check_password_bytes(password: str) -> None:
    """bcrypt looks at 72 bytes at most: refuse longer rather than truncate."""
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise ValueError(f"must be at most {MAX_PASSWORD_BYTES} bytes in UTF-8")


def normalise_email(address: str) -> str:
    """The address in email-validator's normal form (ASCII only); ValueError if it is no address.

    Syntax only: no DNS look-up (deliverability shows when the mail arrives).
    """
    try:
        checked = validate_email(address, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as error:
        raise ValueError(f"is not an email address: {error}") from None
    return checked.ascii_email or checked.normalized


# 254: RFC 5321's limit (service/users/models.py EMAIL_MAX_LENGTH).
EmailAddress = Annotated[
    str,
    Field(min_length=3, max_length=254, json_schema_extra={"format": "email"}),
    AfterValidator(normalise_email),
]


class UserCreate(BaseModel):
    """A registration: the contract's username and password rules."""

    model_config = ConfigDict(strict=True)

    username: str = Field(min_length=3, max_length=32, pattern=USERNAME_PATTERN)
    password: str = password_field()
    email: EmailAddress | None = None  # optional; a verification mail goes to it

    @field_validator("password")
    @classmethod
    def _password_rules(cls, password: str, info: ValidationInfo) -> str:
        check_password_bytes(password)
        username = info.data.get("username")
        if username is not None and password.lower() == username.lower():
            raise ValueError("must not be the username")
        return password


class UserPublic(BaseModel):
    """What the API shows of a user: never the hash, never the account key."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    created_at: datetime
    email: str | None = None
    email_verified: bool = False


class EmailChange(BaseModel):
    """A new address for the caller, with the current password."""

    model_config = ConfigDict(strict=True)

    email: EmailAddress
    current_password: str
    code: str | None = Field(default=None, max_length=14, description="The second-factor code, if it is on.")


class PasswordChange(BaseModel):
    """A new password for the caller; the username rule is checked against the account."""

    model_config = ConfigDict(strict=True)

    current_password: str
    new_password: str = password_field()
    # Needed once the second factor is on (service/auth/mfa/second_factor.py checks it).
    code: str | None = Field(
        default=None, max_length=14, description="The second-factor code, when it is on."
    )

    @field_validator("new_password")
    @classmethod
    def _password_rules(cls, password: str) -> str:
        check_password_bytes(password)
        return password


class AccountDeletion(BaseModel):
    """The confirmation an account deletion needs: the current password."""

    model_config = ConfigDict(strict=True, extra="forbid")

    current_password: str = Field(max_length=1024)
    # Needed once the second factor is on (service/auth/mfa/second_factor.py checks it).
    code: str | None = Field(default=None, max_length=14, description="The second-factor code, if it is on.")
