"""Request and response shapes for authentication."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from service.auth.passwords import MAX_PASSWORD_BYTES

USERNAME_PATTERN = r"^[A-Za-z0-9_.-]+$"
_USERNAME = re.compile(USERNAME_PATTERN.replace("$", r"\Z"))


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


class UserCreate(BaseModel):
    """A registration: the contract's username and password rules."""

    model_config = ConfigDict(strict=True)

    username: str = Field(min_length=3, max_length=32, pattern=USERNAME_PATTERN)
    password: str = password_field()

    @field_validator("password")
    @classmethod
    def _password_rules(cls, password: str, info: ValidationInfo) -> str:
        check_password_bytes(password)
        username = info.data.get("username")
        if username is not None and password.lower() == username.lower():
            raise ValueError("must not be the username")
        return password


def could_be_username(name: str) -> bool:
    """Whether some account could have this name (the registration rules)."""
    return 3 <= len(name) <= 32 and _USERNAME.match(name) is not None


def check_password_bytes(password: str) -> None:
    """bcrypt looks at 72 bytes at most: refuse longer rather than truncate."""
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise ValueError(f"must be at most {MAX_PASSWORD_BYTES} bytes in UTF-8")


class Credentials(BaseModel):
    """A login: any strings; whether they match is for the password check to say."""

    model_config = ConfigDict(strict=True)

    username: str
    password: str


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int


class RefreshRequest(BaseModel):
    """A refresh: the refresh token to spend for a new pair."""

    model_config = ConfigDict(strict=True)

    refresh_token: str


class PasswordChange(BaseModel):
    """A new password for the caller; the username rule is checked against the account."""

    model_config = ConfigDict(strict=True)

    current_password: str
    new_password: str = password_field()

    @field_validator("new_password")
    @classmethod
    def _password_rules(cls, password: str) -> str:
        check_password_bytes(password)
        return password


class SessionPublic(BaseModel):
    """One of the caller's login sessions."""

    id: str
    created_at: datetime
    last_seen_at: datetime
    user_agent: str
    ip: str
    current: bool


class CsrfToken(BaseModel):
    """The answer to a cookie login: send it back as ``X-CSRF-Token`` on unsafe methods."""

    csrf_token: str
