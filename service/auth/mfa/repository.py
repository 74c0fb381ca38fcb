"""Data access for the second factor: the TOTP row and the recovery codes of an account.

Every statement checks the account's id and account key together (``CALLER``),
as the users repository does: an account that had the same id before finds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, bindparam, delete, exists, insert, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import ColumnElement, Delete

from service.auth.events import records as events
from service.auth.mfa.models import RecoveryCode, TotpFactor
from service.auth.sessions import ClientInfo
from service.db import Database
from service.models import utcnow
from service.users.keys import Account
from service.users.models import User
from service.users.repository import CALLER, caller_params

_OWNED_FACTOR = (TotpFactor.user_id == bindparam("caller_id")) & exists().where(CALLER)
_OWNED_CODE = (RecoveryCode.user_id == bindparam("caller_id")) & exists().where(CALLER)
_state = (
    select(User.username, TotpFactor.secret_encrypted, TotpFactor.confirmed_at)
    .select_from(User)
    .outerjoin(TotpFactor, TotpFactor.user_id == User.id)
    .where(CALLER)
)
_factor_on = select(literal(1)).where(_OWNED_FACTOR & TotpFactor.confirmed_at.is_not(None))


@dataclass(frozen=True)
class EventContext:
    """Where the change came from, for its security event."""

    client: ClientInfo
    session_id: str


@dataclass(frozen=True)
class FactorState:
    """The account's username and its TOTP secret (still encrypted), if it has one."""

    username: str
    secret_encrypted: bytes | None
    confirmed: bool


async def factor_state(db: Database, account: Account) -> FactorState | None:
    """The account's second-factor state; None when there is no such account."""
    async with db.reader() as conn:
        row = (await conn.execute(_state, caller_params(account.user_id, account.account_key))).first()
    if row is None:
        return None
    return FactorState(row.username, row.secret_encrypted, row.confirmed_at is not None)


async def factor_on(db: Database, account: Account) -> bool:
    """Whether the account has a confirmed second factor."""
    async with db.reader() as conn:
        found = await conn.execute(_factor_on, caller_params(account.user_id, account.account_key))
        return found.first() is not None


async def put_pending(db: Database, account: Account, secret_encrypted: bytes) -> bool:
    """Store a new pending secret, replacing a pending one; False when the factor is already on."""
    params = caller_params(account.user_id, account.account_key)
    now = utcnow()
    replace = (
        update(TotpFactor)
        .where(_OWNED_FACTOR & TotpFactor.confirmed_at.is_(None))
        .values(secret_encrypted=secret_encrypted, created_at=now)
        .execution_options(synchronize_session=False)
    )
    async with db.unit_of_work() as unit:
        if (await unit.execute(replace, params)).rowcount == 1:  # type: ignore[attr-defined]
            return True
    # The Core table: an ORM insert given parameters would be a bulk insert of them.
    add = insert(cast(Table, TotpFactor.__table__)).from_select(
        ["user_id", "secret_encrypted", "created_at"],
        select(User.id, literal(secret_encrypted), literal(now, TotpFactor.created_at.type)).where(CALLER),
    )
    try:
        async with db.unit_of_work() as unit:
            await unit.execute(add, params)
    except IntegrityError:  # enrolled or confirmed meanwhile by a parallel request
        return False
    return True


async def confirm(
    db: Database, account: Account, secret_encrypted: bytes, code_hashes: list[str], event: EventContext
) -> bool:
    """Turn the pending secret on, replace the recovery codes and record ``mfa_enabled``, in one unit.

    False when the pending secret changed meanwhile.
    """
    params = caller_params(account.user_id, account.account_key)
    turn_on = (
        update(TotpFactor)
        .where(
            _OWNED_FACTOR
            & TotpFactor.confirmed_at.is_(None)
            & (TotpFactor.secret_encrypted == bindparam("secret"))
        )
        .values(confirmed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    async with db.unit_of_work() as unit:
        if (await unit.execute(turn_on, params | {"secret": secret_encrypted})).rowcount != 1:  # type: ignore[attr-defined]
            return False
        await unit.execute(delete(RecoveryCode).where(_OWNED_CODE), params)
        await unit.execute(
            insert(RecoveryCode), [{"user_id": account.user_id, "code_hash": h} for h in code_hashes]
        )
        await events.record(unit, account, "mfa_enabled", event.client, session_id=event.session_id)
    return True


async def spend_recovery_code(db: Database, account: Account, code_hash: str) -> bool:
    """Delete the unused recovery code with this hash; True only for the one request that did."""
    params = caller_params(account.user_id, account.account_key) | {"code_hash": code_hash}
    spend = (
        delete(RecoveryCode)
        .where(_OWNED_CODE & (RecoveryCode.code_hash == bindparam("code_hash")))
        .execution_options(synchronize_session=False)
    )
    async with db.unit_of_work() as unit:
        return bool((await unit.execute(spend, params)).rowcount == 1)  # type: ignore[attr-defined]


async def remove(db: Database, account: Account, event: EventContext) -> None:
    """Turn the second factor off (the secret and every recovery code go); ``mfa_disabled`` if it was on."""
    params = caller_params(account.user_id, account.account_key)
    on = _OWNED_FACTOR & TotpFactor.confirmed_at.is_not(None)
    async with db.unit_of_work() as unit:
        await unit.execute(_delete(RecoveryCode, _OWNED_CODE), params)
        was_on = (await unit.execute(_delete(TotpFactor, on), params)).rowcount  # type: ignore[attr-defined]
        await unit.execute(_delete(TotpFactor, _OWNED_FACTOR), params)  # a pending one
        if was_on:
            await events.record(unit, account, "mfa_disabled", event.client, session_id=event.session_id)


def _delete(table: type[RecoveryCode] | type[TotpFactor], where: ColumnElement[bool]) -> Delete:
    return delete(table).where(where).execution_options(synchronize_session=False)
