"""Response and query shapes for the caller's security events."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from service.notes.schemas import NoteListQuery


class EventPublic(BaseModel):
    """One security event as its account sees it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    type: str = Field(examples=["login"])
    created_at: datetime
    ip: str
    user_agent: str
    session_id: str | None = Field(description="The login session it concerns, if any.")


class EventPage(BaseModel):
    """One page of the caller's security events, newest first."""

    items: list[EventPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class EventListQuery(NoteListQuery):
    """The event list's query string: ``limit`` (1 to 100) and ``cursor``."""
