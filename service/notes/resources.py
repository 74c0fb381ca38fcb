"""HTTP resources for the caller's own notes."""

from __future__ import annotations

from typing import Any

from flask import url_for

from service.auth.guard import principal
from service.errors import NotFound
from service.notes import repository
from service.notes.schemas import NoteCreate, NoteListQuery, NotePage, NotePublic, NoteUpdate
from service.resources import API, AsyncResource, operation
from service.serving import runtime

MISSING = {404: "There is no note 12."}


def _missing(note_id: int) -> NotFound:
    # Another user's note gets exactly this answer too: ids reveal nothing.
    return NotFound(f"There is no note {note_id}.")


def _owner() -> dict[str, Any]:
    # The caller's account by id and key: the repository matches both.
    caller = principal()
    return {"user_id": caller.user_id, "account_key": caller.account_key}


def _note_links() -> dict[str, dict[str, Any]]:
    # What a client (and schemathesis's stateful phase) can do with a new note.
    note = {"note_id": "$response.body#/id"}
    return {
        name: {"operationId": operation_id, "parameters": note}
        for name, operation_id in (
            ("GetNote", "get_notes_note_id"),
            ("UpdateNote", "patch_notes_note_id"),
            ("DeleteNote", "delete_notes_note_id"),
        )
    }


class NoteList(AsyncResource):
    @operation(
        f"{API}/notes",
        "The caller's notes, newest first, a page at a time",
        auth="either",
        scopes=("notes:read",),
        query=NoteListQuery,
        returns=NotePage,
    )
    async def get(self, query: NoteListQuery) -> Any:
        return await repository.list_page(
            runtime.current().db, **_owner(), limit=query.limit, cursor=query.cursor
        )

    @operation(
        f"{API}/notes",
        "Create a note",
        auth="either",
        scopes=("notes:write",),
        body=NoteCreate,
        status=201,
        returns=NotePublic,
        headers={"Location": "The new note's URL."},
        links=_note_links(),
    )
    async def post(self, form: NoteCreate) -> Any:
        note = await repository.create_note(
            runtime.current().db, **_owner(), title=form.title, body=form.body
        )
        return note, {"Location": url_for("note_item", note_id=note["id"])}


class NoteItem(AsyncResource):
    # The path's id is canonical ASCII digits within 64 bits (service.routes), so it can reach the driver.
    @operation(
        f"{API}/notes/<int:note_id>",
        "One of the caller's notes",
        auth="either",
        scopes=("notes:read",),
        returns=NotePublic,
        errors=MISSING,
    )
    async def get(self, note_id: int) -> Any:
        note = await repository.get_note(runtime.current().db, **_owner(), note_id=note_id)
        if note is None:
            raise _missing(note_id)
        return note

    @operation(
        f"{API}/notes/<int:note_id>",
        "Change a note's title or body",
        auth="either",
        scopes=("notes:write",),
        body=NoteUpdate,
        returns=NotePublic,
        errors=MISSING,
    )
    async def patch(self, form: NoteUpdate, note_id: int) -> Any:
        note = await repository.update_note(
            runtime.current().db, **_owner(), note_id=note_id, changes=form.changes()
        )
        if note is None:
            raise _missing(note_id)
        return note

    @operation(
        f"{API}/notes/<int:note_id>",
        "Delete a note",
        auth="either",
        scopes=("notes:write",),
        status=204,
        errors=MISSING,
    )
    async def delete(self, note_id: int) -> None:
        if not await repository.delete_note(runtime.current().db, **_owner(), note_id=note_id):
            raise _missing(note_id)
