"""Data access for notes: plain coroutines, each scoped to the owner's notes.

The owner is the caller's account: its id and its account key, matched in
the same statement as the notes (an earlier account that had the same id,
in another database or before a restored backup, reaches nothing). Reads and
inserts tell "no such account" (401) from "no such note" in that one
statement; an update or a delete of a gone account's note finds no note.
Statements are built once, with bound parameters.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Select, String, Table, Text, bindparam, delete, exists, insert, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.db import Database
from service.models import UTCDateTime, utcnow
from service.notes.cursors import decode_cursor, encode_cursor
from service.notes.models import Note
from service.users.keys import AccountGone
from service.users.models import User
from service.users.repository import CALLER, caller_params

# Core statements on the table: given parameters, an ORM insert would become
# a bulk insert of them.
_NOTES: Table = Note.__table__  # type: ignore[assignment]  # declared models map to a Table
_COLUMNS = (Note.id, Note.title, Note.body, Note.created_at, Note.updated_at)
_OWNED = (Note.user_id == bindparam("caller_id")) & exists().where(CALLER)
# The caller's account as a one-row table (none when it is gone), joined to
# the notes asked for: zero rows mean no account, one row of NULLs no notes.
_ACCOUNT = select(User.id).where(CALLER).subquery("account")


def _with_account(notes: Select[*tuple[Any, ...]]) -> Select[*tuple[Any, ...]]:
    found = notes.subquery("found")
    return select(found).select_from(_ACCOUNT.outerjoin(found, true())).order_by(found.c.id.desc())


def _page(*, after_cursor: bool) -> Select[*tuple[Any, ...]]:
    query = select(*_COLUMNS).where(Note.user_id == bindparam("caller_id"))
    if after_cursor:
        query = query.where(Note.id < bindparam("before"))
    # Ordered and limited inside, so the (user_id, id) index answers it with
    # one range scan; the join above only adds the account row.
    return _with_account(query.order_by(Note.id.desc()).limit(bindparam("limit")))


_FIRST_PAGE = _page(after_cursor=False)
_NEXT_PAGE = _page(after_cursor=True)
_ONE = _with_account(
    select(*_COLUMNS).where(Note.id == bindparam("note_id"), Note.user_id == bindparam("caller_id"))
)
_NOW = bindparam("now", type_=UTCDateTime)
_CREATE = (
    insert(_NOTES)
    .from_select(
        [Note.user_id, Note.title, Note.body, Note.created_at, Note.updated_at],
        select(
            User.id,
            bindparam("new_title", type_=String),
            bindparam("new_body", type_=Text),
            _NOW.label("created_at"),
            _NOW.label("updated_at"),
        ).where(CALLER),
    )
    .returning(*_COLUMNS)
)
_DELETE = delete(_NOTES).where(Note.id == bindparam("note_id"), _OWNED)


@cache
def _update(fields: frozenset[str]) -> Any:
    # One statement per set of changed fields, built once: at most four sets
    # (NoteUpdate has two fields), so the cache stays tiny.
    values: dict[str, Any] = {field: bindparam(f"new_{field}") for field in sorted(fields)}
    return (
        update(_NOTES)
        .where(Note.id == bindparam("note_id"), _OWNED)
        .values(**values, updated_at=_NOW)
        .returning(*_COLUMNS)
    )


async def create_note(
    db: Database, *, user_id: int, account_key: str, title: str, body: str
) -> dict[str, Any]:
    """Insert a note for the account and return it as stored; 401 when the account is gone."""
    values = caller_params(user_id, account_key) | {"new_title": title, "new_body": body, "now": utcnow()}
    async with db.unit_of_work() as unit:
        row = (await unit.execute(_CREATE, values)).first()
    if row is None:
        raise AccountGone()
    return row._asdict()


async def get_note(db: Database, *, user_id: int, account_key: str, note_id: int) -> dict[str, Any] | None:
    """The note, if it exists and belongs to the account; 401 when the account is gone."""
    async with db.reader() as conn:
        rows = (await conn.execute(_ONE, caller_params(user_id, account_key) | {"note_id": note_id})).all()
    if not rows:
        raise AccountGone()
    return None if rows[0].id is None else rows[0]._asdict()


async def list_notes(
    db: Database, *, user_id: int, account_key: str, limit: int, before: int | None
) -> list[dict[str, Any]]:
    """Up to ``limit`` of the account's notes with ids below ``before``, newest first; 401 if it is gone."""
    values = caller_params(user_id, account_key) | {"limit": limit}
    statement = _FIRST_PAGE if before is None else _NEXT_PAGE
    if before is not None:
        values["before"] = before
    async with db.reader() as conn:
        rows = (await conn.execute(statement, values)).all()
    if not rows:
        raise AccountGone()
    return [row._asdict() for row in rows if row.id is not None]


async def list_page(
    db: Database, *, user_id: int, account_key: str, limit: int, cursor: str | None
) -> dict[str, Any]:
    """One page of the account's notes and the cursor of the next page (None on the last)."""
    before = None if cursor is None else decode_cursor(cursor)
    # One row more than asked says whether another page exists, without a COUNT.
    rows = await list_notes(db, user_id=user_id, account_key=account_key, limit=limit + 1, before=before)
    more = len(rows) > limit
    items = rows[:limit]
    return {"items": items, "next_cursor": encode_cursor(items[-1]["id"]) if more else None}


async def update_note(
    db: Database, *, user_id: int, account_key: str, note_id: int, changes: dict[str, str]
) -> dict[str, Any] | None:
    """Apply ``changes`` to the account's note; None when there is no such note."""
    values = caller_params(user_id, account_key) | {"note_id": note_id, "now": utcnow()}
    values |= {f"new_{field}": value for field, value in changes.items()}
    async with db.unit_of_work() as unit:
        row = (await unit.execute(_update(frozenset(changes)), values)).first()
    return None if row is None else row._asdict()


async def delete_note(db: Database, *, user_id: int, account_key: str, note_id: int) -> bool:
    """Delete the account's note; False when there was no such note."""
    values = caller_params(user_id, account_key) | {"note_id": note_id}
    async with db.unit_of_work() as unit:
        result = await unit.execute(_DELETE, values)
    return bool(result.rowcount)  # type: ignore[attr-defined]


_DELETE_ALL = delete(_NOTES).where(_OWNED).execution_options(synchronize_session=False)


async def delete_all_notes(unit: AsyncSession, *, user_id: int, account_key: str) -> int:
    """Delete every note of the account in the caller's unit of work (an account deletion's); how many."""
    result = await unit.execute(_DELETE_ALL, caller_params(user_id, account_key))
    return int(result.rowcount)  # type: ignore[attr-defined]
