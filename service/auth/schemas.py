"""Request and response shapes for credentials and login sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict


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
