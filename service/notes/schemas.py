"""Request and response shapes for notes; the OpenAPI document is built from these too."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from service.notes.cursors import CURSOR_PATTERN

MAX_TITLE = 200
MAX_BODY = 10_000
MAX_LIMIT = 100
DEFAULT_LIMIT = 20
# PostgreSQL's text cannot hold NUL; refusing it keeps both backends alike.
NO_NUL = r"^[^\x00]*$"

Title = Annotated[str, Field(min_length=1, max_length=MAX_TITLE, pattern=NO_NUL, examples=["Groceries"])]
Body = Annotated[str, Field(max_length=MAX_BODY, pattern=NO_NUL, examples=["eggs, milk, bread"])]


def _patch_schema(schema: dict[str, Any]) -> None:
    # PATCH fields are optional but never null: an absent field is unchanged,
    # and a patch that changes nothing is refused.
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)
    schema["minProperties"] = 1


class NoteCreate(BaseModel):
    """A new note: a title and an optional body."""

    model_config = ConfigDict(strict=True, extra="forbid")

    title: Title
    body: Body = ""


class NoteUpdate(BaseModel):
    """A partial update: the fields given are replaced, the others kept."""

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        json_schema_extra=_patch_schema,
    )

    title: Title = None  # type: ignore[assignment]
    body: Body = None  # type: ignore[assignment]

    @field_validator("title", "body", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("must not be null")
        return value

    @model_validator(mode="after")
    def _something_to_change(self) -> NoteUpdate:
        if not self.model_fields_set:
            raise ValueError("give at least one of title and body")
        return self

    def changes(self) -> dict[str, str]:
        return self.model_dump(include=self.model_fields_set)


class NotePublic(BaseModel):
    """A note as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    body: str
    created_at: datetime
    updated_at: datetime


class NotePage(BaseModel):
    """One page of the caller's notes, newest first."""

    items: list[NotePublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class NoteListQuery(BaseModel):
    """The list's query string."""

    model_config = ConfigDict(strict=True)

    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(None, pattern=CURSOR_PATTERN)

    @field_validator("limit", mode="before")
    @classmethod
    def _digits(cls, value: Any) -> Any:
        # Query values arrive as text; only plain decimal digits are a number here.
        if isinstance(value, str):
            if not (value.isascii() and value.isdigit() and len(value) <= 6):
                raise ValueError("must be an integer from 1 to 100")
            return int(value)
        return value
