"""HTTP resources for the caller's own notes."""

from __future__ import annotations

from typing import Any

from flask import url_for

from service.auth.guard import authenticated, principal
from service.errors import NotFound
from service.notes import repository
from service.notes.cursors import MAX_ID
from service.notes.schemas import NoteCreate, NoteListQuery, NotePage, NotePublic, NoteUpdate
from service.resources import AsyncResource, no_content
from service.serving import runtime
from service.validation import parse_body, parse_query


def _missing(note_id: int) -> NotFound:
    # Another user's note gets exactly this answer too: ids reveal nothing.
    return NotFound(f"There is no note {note_id}.")


def _owner() -> dict[str, Any]:
    # The caller's account by id and key: the repository matches both.
    caller = principal()
    return {"user_id": caller.user_id, "account_key": caller.account_key}


def _public(note: dict[str, Any]) -> dict[str, Any]:
    return NotePublic.model_validate(note).model_dump(mode="json")


class NoteList(AsyncResource):
    method_decorators = [authenticated]

    async def get(self) -> Any:
        query = parse_query(NoteListQuery)
        page = await repository.list_page(
            runtime.current().db, **_owner(), limit=query.limit, cursor=query.cursor
        )
        return NotePage.model_validate(page).model_dump(mode="json")

    async def post(self) -> Any:
        form = parse_body(NoteCreate)
        note = await repository.create_note(
            runtime.current().db, **_owner(), title=form.title, body=form.body
        )
        return _public(note), 201, {"Location": url_for("note", note_id=note["id"])}


class NoteItem(AsyncResource):
    method_decorators = [authenticated]

    async def get(self, note_id: int) -> Any:
        note = None
        if note_id <= MAX_ID:  # beyond a 64-bit id nothing exists, and drivers would overflow
            note = await repository.get_note(runtime.current().db, **_owner(), note_id=note_id)
        if note is None:
            raise _missing(note_id)
        return _public(note)

    async def patch(self, note_id: int) -> Any:
        form = parse_body(NoteUpdate)
        note = None
        if note_id <= MAX_ID:
            note = await repository.update_note(
                runtime.current().db, **_owner(), note_id=note_id, changes=form.changes()
            )
        if note is None:
            raise _missing(note_id)
        return _public(note)

    async def delete(self, note_id: int) -> Any:
        deleted = note_id <= MAX_ID and await repository.delete_note(
            runtime.current().db, **_owner(), note_id=note_id
        )
        if not deleted:
            raise _missing(note_id)
        return no_content()
