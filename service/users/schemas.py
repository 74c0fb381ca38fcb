"""Request and response shapes for users."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class UserPublic(BaseModel):
    """What the API shows of a user: never the hash."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    created_at: datetime
