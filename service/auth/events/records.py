"""Security events: an append-only record of what happened to an account, and its JSON log line.

``record(unit, ...)`` adds an event to a caller's unit of work, so it commits
or rolls back with the change it describes (a password change's event with
the new hash). The log line is written only once that unit has committed.

Changes kept in Redis cannot share a transaction with the database, so the
order decides what a failure leaves behind:

* A login's event is committed *before* its session is created in Redis: a
  login never exists without its event. If Redis then fails, the client gets
  a 503 and the record shows a login that did not start, which is the safe
  side of the two.
* A revocation (logout, logout everywhere, ending a session, a reused refresh
  token) is done in Redis *first*: ending a session must never wait on the
  database. Its event follows; if the database fails, the client gets a 503
  and the session is ended all the same.

Events belong to the account by id *and* account key (the insert selects the
caller's row), so no event can land on another account that has the same id.
Nothing secret is stored or logged: no token, password, code or hash.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    bindparam,
    delete,
    event,
    insert,
    literal,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, Session, mapped_column

from service.auth.sessions import ClientInfo
from service.db import Database
from service.models import Base, UTCDateTime, utcnow
from service.notes.cursors import decode_cursor, encode_cursor
from service.users.keys import Account
from service.users.models import User
from service.users.repository import CALLER, caller_params

log = logging.getLogger("service.events")

EventType = Literal[
    "login",
    "login_failed",
    "login_limited",
    "logout",
    "logout_all",
    "session_revoked",
    "refresh_reuse",
    "password_changed",
    "password_reset",
    "email_changed",
    "email_verified",
    "mfa_enabled",
    "mfa_disabled",
    "token_created",
    "token_revoked",
]
MAX_USER_AGENT = 256
_PENDING = "service.events.pending"  # the unit's events, logged after its commit

EventId = BigInteger().with_variant(Integer(), "sqlite")  # a 64-bit id; SQLite's rowid already is


class SecurityEvent(Base):
    __tablename__ = "security_events"

    id: Mapped[int] = mapped_column(EventId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ip: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str] = mapped_column(String(MAX_USER_AGENT))
    session_id: Mapped[str | None] = mapped_column(String(32), nullable=True)

    __table_args__ = (
        # The list is "WHERE user_id = ? AND id < ? ORDER BY id DESC LIMIT n".
        Index("ix_security_events_user_id_id", "user_id", "id"),
        # Pruning deletes by age.
        Index("ix_security_events_created_at", "created_at"),
        {"sqlite_autoincrement": True},
    )


_EVENTS: Table = SecurityEvent.__table__  # type: ignore[assignment]
_COLUMNS = (
    SecurityEvent.id,
    SecurityEvent.type,
    SecurityEvent.created_at,
    SecurityEvent.ip,
    SecurityEvent.user_agent,
    SecurityEvent.session_id,
)
_INSERT = insert(_EVENTS).from_select(
    ["user_id", "type", "created_at", "ip", "user_agent", "session_id"],
    select(
        User.id,
        bindparam("event_type", type_=String),
        bindparam("now", type_=UTCDateTime),
        bindparam("ip", type_=String),
        bindparam("user_agent", type_=String),
        bindparam("session_id", type_=String),
    ).where(CALLER),
)
_NO_CLIENT = ClientInfo(user_agent="", ip="")


async def record(
    unit: AsyncSession,
    account: Account,
    type: EventType,
    client: ClientInfo | None = None,
    *,
    session_id: str | None = None,
) -> None:
    """Add one event of ``account`` to ``unit``: it commits, and is logged, with the unit's change.

    ``client`` is where the request came from (None for an operator's command).
    Nothing is written when the account is gone.
    """
    client = client or _NO_CLIENT
    values = caller_params(account.user_id, account.account_key) | {
        "event_type": type,
        "now": utcnow(),
        "ip": client.ip[:64],
        "user_agent": client.user_agent[:MAX_USER_AGENT],
        "session_id": session_id,
    }
    await unit.execute(_INSERT, values)
    fields = {"event": type, "user_id": account.user_id, "ip": client.ip, "session_id": session_id}
    unit.sync_session.info.setdefault(_PENDING, []).append(fields)


async def record_alone(
    db: Database,
    account: Account,
    type: EventType,
    client: ClientInfo | None = None,
    *,
    session_id: str | None = None,
) -> None:
    """``record`` in a unit of its own, for a change that lives outside the database (Redis)."""
    async with db.unit_of_work() as unit:
        await record(unit, account, type, client, session_id=session_id)


@event.listens_for(Session, "after_commit")
def _log_committed(session: Session) -> None:
    for fields in session.info.pop(_PENDING, ()):
        log.info("security event %s", fields["event"], extra={"fields": fields})


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(_PENDING, None)


def _page(*, after_cursor: bool) -> Any:
    query = select(*_COLUMNS).where(
        SecurityEvent.user_id == bindparam("caller_id"),
        # The account by id and key: an earlier account with this id sees nothing.
        select(literal(1)).where(CALLER).exists(),
    )
    if after_cursor:
        query = query.where(SecurityEvent.id < bindparam("before"))
    return query.order_by(SecurityEvent.id.desc()).limit(bindparam("limit"))


_FIRST_PAGE = _page(after_cursor=False)
_NEXT_PAGE = _page(after_cursor=True)
_DELETE_ALL = delete(_EVENTS).where(
    SecurityEvent.user_id == bindparam("caller_id"), select(literal(1)).where(CALLER).exists()
)
_PRUNE = delete(_EVENTS).where(SecurityEvent.created_at < bindparam("cutoff", type_=UTCDateTime))


async def list_events(
    db: Database, account: Account, *, limit: int, before: int | None
) -> list[dict[str, Any]]:
    """Up to ``limit`` of the account's events with ids below ``before``, newest first."""
    values = caller_params(account.user_id, account.account_key) | {"limit": limit}
    if before is not None:
        values["before"] = before
    async with db.reader() as conn:
        rows = (await conn.execute(_FIRST_PAGE if before is None else _NEXT_PAGE, values)).all()
    return [row._asdict() for row in rows]


async def delete_all_of(unit: AsyncSession, account: Account) -> int:
    """Delete every event of the account in the caller's unit of work (an account deletion's)."""
    result = await unit.execute(_DELETE_ALL, caller_params(account.user_id, account.account_key))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def prune(db: Database, retention_days: int) -> int:
    """Delete every event older than ``retention_days``; how many. Safe to run twice at once."""
    cutoff = utcnow() - timedelta(days=retention_days)
    async with db.unit_of_work() as unit:
        result = await unit.execute(_PRUNE, {"cutoff": cutoff})
    deleted = int(result.rowcount)  # type: ignore[attr-defined]
    log.info("pruned %d security events older than %d days", deleted, retention_days)
    return deleted


async def page_of(db: Database, account: Account, *, limit: int, cursor: str | None) -> dict[str, Any]:
    """One page of the account's events and the next page's cursor (None on the last)."""
    before = None if cursor is None else decode_cursor(cursor)
    # One row more than asked says whether another page exists, without a COUNT.
    rows = await list_events(db, account, limit=limit + 1, before=before)
    items = rows[:limit]
    more = len(rows) > limit
    return {"items": items, "next_cursor": encode_cursor(items[-1]["id"]) if more else None}
