"""The caller's data export: one JSON document, streamed a chunk of rows at a time.

An account may hold 100,000 notes, so the document is never built in memory:
the response body is a generator that reads the next chunk of rows from the
database only when the previous one has been sent. It runs in the greenlet
bridge (the exchange iterates it in the request's greenlet), so it waits on
the database through ``wait_for``, one short read per chunk: no connection
is held while a slow client downloads.

What a client sees when the database fails:

* before the first byte: the account, the sessions and the first chunk of
  notes are read before the response starts, so a database that is down or
  slow then gives a 503 problem, as any request would;
* midway: the error ends the exchange without the final chunk of the chunked
  body, so the client sees a broken transfer, never a complete-looking one;
  and the document's last member is ``"complete": true``, so even a body cut
  at a chunk boundary does not parse as a finished export.

Rows are read in keyset order (id, newest first) chunk by chunk, not in one
snapshot: a note written during the export may or may not be in it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import Any

from service.auth.events import records as events
from service.auth.mfa import repository as mfa_repository
from service.auth.sessions import Principal, list_sessions
from service.auth.tokens import personal as personal_tokens
from service.db import Database
from service.models import utcnow
from service.notes import repository as notes
from service.serving.bridge import wait_for
from service.serving.runtime import Runtime
from service.users import accounts

log = logging.getLogger("service.export")
CHUNK = 500  # rows per database read, and per piece of the body sent
FORMAT = "service-export/1"


async def open_export(rt: Runtime, caller: Principal) -> Iterator[bytes]:
    """The export document's body, ready to stream; 401 when the account is gone, 503 when down.

    Everything that can fail for the whole request is done here, before the
    response starts.
    """
    profile = await accounts.profile(rt, caller.account)
    sessions = await list_sessions(rt.redis, caller.account)
    tokens = await personal_tokens.list_tokens(rt, caller)  # names and scopes, never the values
    second_factor = await mfa_repository.factor_state(rt.db, caller.account)
    db = rt.db
    first_notes = await _notes(db, caller, before=None)
    head = {
        "format": FORMAT,
        "exported_at": utcnow().isoformat(),
        "account": profile.model_dump(mode="json"),
        "sessions": [asdict(record) | {"current": record.id == caller.session_id} for record in sessions],
        "personal_access_tokens": [token.model_dump(mode="json") for token in tokens],
        "second_factor": {"totp": bool(second_factor and second_factor.confirmed)},
    }
    return _document(db, caller, head, first_notes)


def _document(
    db: Database, caller: Principal, head: dict[str, Any], first_notes: list[dict[str, Any]]
) -> Iterator[bytes]:
    try:
        # The head's members, then the open arrays: json.dumps of the head minus its closing brace.
        yield _dumps(head)[:-1] + b', "notes": ['
        yield from _array(first_notes, lambda before: wait_for(_notes(db, caller, before=before)))
        yield b'], "events": ['
        yield from _array(None, lambda before: wait_for(_events(db, caller, before=before)))
        yield b'], "complete": true}\n'
    except Exception as error:
        # Re-raised: the exchange then ends without the body's last chunk (see the docstring).
        log.warning("export of user %d broken off midway: %s", caller.user_id, type(error).__name__)
        raise
    log.info("export of user %d sent", caller.user_id)


Rows = list[dict[str, Any]]


def _array(first: Rows | None, fetch: Callable[[int | None], Rows]) -> Iterator[bytes]:
    """The comma-separated members of one array, a chunk at a time, fetched as they are sent."""
    chunk = fetch(None) if first is None else first
    separator = b""
    while chunk:
        yield separator + b", ".join(_dumps(row) for row in chunk)
        separator = b", "
        if len(chunk) < CHUNK:
            return
        chunk = fetch(chunk[-1]["id"])


async def _notes(db: Database, caller: Principal, *, before: int | None) -> list[dict[str, Any]]:
    return await notes.list_notes(
        db, user_id=caller.user_id, account_key=caller.account_key, limit=CHUNK, before=before
    )


async def _events(db: Database, caller: Principal, *, before: int | None) -> list[dict[str, Any]]:
    return await events.list_events(db, caller.account, limit=CHUNK, before=before)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, default=_iso, ensure_ascii=False).encode()


def _iso(value: Any) -> str:
    return str(value.isoformat())
