"""Request and response shapes for personal access tokens and introspection."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Scope = Literal["profile:read", "notes:read", "notes:write"]
SCOPES: tuple[Scope, ...] = ("profile:read", "notes:read", "notes:write")
DAY = 24 * 3600


class TokenCreate(BaseModel):
    """A new personal access token: what it may do, for how long, and the password to prove it."""

    model_config = ConfigDict(strict=True, extra="forbid")

    # PostgreSQL text holds no NUL: refused here, not a 500 at the insert.
    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00]*$")]
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=len(SCOPES))]
    expires_in: Annotated[int, Field(ge=60, le=365 * DAY)] = 90 * DAY
    current_password: Annotated[str, Field(max_length=1024)]
    code: str | None = Field(default=None, max_length=14, description="The second-factor code, if it is on.")

    @field_validator("expires_in", mode="before")
    @classmethod
    def _whole_number(cls, value: object) -> object:
        # JSON Schema's integer includes 1789.0; strict mode would refuse it.
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value


class TokenPublic(BaseModel):
    """One of the caller's personal access tokens, without the token."""

    id: int
    name: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None


class TokenCreated(TokenPublic):
    """The answer to creating a token: the only time ``token`` is shown."""

    token: str


class IntrospectionRequest(BaseModel):
    """RFC 7662's form: the token and an optional hint of its type."""

    model_config = ConfigDict(strict=True, extra="ignore")  # RFC 7662: ignore unknown parameters

    token: str  # bounded by the form's size limit (service/validation.py)
    token_type_hint: str = ""
