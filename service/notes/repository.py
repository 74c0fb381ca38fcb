"""Data access for notes: plain coroutines, each scoped to the owner's notes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update

from service.db import Database
from service.models import utcnow
from service.notes.cursors import decode_cursor, encode_cursor
from service.notes.models import Note

_COLUMNS = (Note.id, Note.title, Note.body, Note.created_at, Note.updated_at)


async def create_note(db: Database, *, user_id: int, title: str, body: str) -> dict[str, Any]:
    """Insert a note for ``user_id`` and return it as stored."""
    now = utcnow()
    statement = (
        insert(Note)
        .values(user_id=user_id, title=title, body=body, created_at=now, updated_at=now)
        .returning(*_COLUMNS)
    )
    async with db.session() as session:
        row = (await session.execute(statement)).one()
    return row._asdict()


async def get_note(db: Database, *, user_id: int, note_id: int) -> dict[str, Any] | None:
    """The note, if it exists and belongs to ``user_id``."""
    async with db.reader() as conn:
        row = (
            await conn.execute(select(*_COLUMNS).where(Note.id == note_id, Note.user_id == user_id))
        ).first()
    return None if row is None else row._asdict()


async def list_notes(db: Database, *, user_id: int, limit: int, before: int | None) -> list[dict[str, Any]]:
    """Up to ``limit`` of the user's notes with ids below ``before``, newest first."""
    query = select(*_COLUMNS).where(Note.user_id == user_id)
    if before is not None:
        query = query.where(Note.id < before)
    async with db.reader() as conn:
        rows = (await conn.execute(query.order_by(Note.id.desc()).limit(limit))).all()
    return [row._asdict() for row in rows]


async def list_page(db: Database, *, user_id: int, limit: int, cursor: str | None) -> dict[str, Any]:
    """One page of the user's notes and the cursor of the next page (None on the last)."""
    before = None if cursor is None else decode_cursor(cursor)
    # One row more than asked says whether another page exists, without a COUNT.
    rows = await list_notes(db, user_id=user_id, limit=limit + 1, before=before)
    more = len(rows) > limit
    items = rows[:limit]
    return {"items": items, "next_cursor": encode_cursor(items[-1]["id"]) if more else None}


async def update_note(
    db: Database, *, user_id: int, note_id: int, changes: dict[str, str]
) -> dict[str, Any] | None:
    """Apply ``changes`` to the user's note; None when there is no such note."""
    statement = (
        update(Note)
        .where(Note.id == note_id, Note.user_id == user_id)
        .values(**changes, updated_at=utcnow())
        .returning(*_COLUMNS)
    )
    async with db.session() as session:
        row = (await session.execute(statement)).first()
    return None if row is None else row._asdict()


async def delete_note(db: Database, *, user_id: int, note_id: int) -> bool:
    """Delete the user's note; False when there was no such note."""
    async with db.session() as session:
        result = await session.execute(delete(Note).where(Note.id == note_id, Note.user_id == user_id))
    return bool(result.rowcount)
