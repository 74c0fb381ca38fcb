"""Data access for the accounts' email addresses.

Like every query of the caller's account, each matches id and account key
in the one statement (``repository.CALLER``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import IntegrityError

from service.db import Database
from service.users.keys import Account
from service.users.models import User
from service.users.repository import CALLER, caller_params


@dataclass(frozen=True)
class AddressRecord:
    """What the mail flows need of an account: its name, password hash and addresses."""

    account: Account
    username: str
    password_hash: str
    email: str | None
    email_verified: bool
    pending_email: str | None

    @property
    def verified_email(self) -> str | None:
        """Where notices go: the confirmed address, if any."""
        return self.email if self.email_verified else None


class AddressTaken(Exception):
    """Another account has confirmed this address."""


_COLUMNS = (
    User.id,
    User.account_key,
    User.username,
    User.password_hash,
    User.email,
    User.email_verified,
    User.pending_email,
)
_of_account = select(*_COLUMNS).where(CALLER)
# Uses the partial unique index on lower(email) where confirmed.
_by_verified = select(*_COLUMNS).where(
    (func.lower(User.email) == bindparam("address")) & User.email_verified.is_(True)
)
_taken = select(User.id).where(
    (func.lower(User.email) == bindparam("address"))
    & User.email_verified.is_(True)
    & (User.id != bindparam("caller_id"))
)


def _record(row: object) -> AddressRecord:
    return AddressRecord(
        Account(row.id, row.account_key),  # type: ignore[attr-defined]
        row.username,  # type: ignore[attr-defined]
        row.password_hash,  # type: ignore[attr-defined]
        row.email,  # type: ignore[attr-defined]
        bool(row.email_verified),  # type: ignore[attr-defined]
        row.pending_email,  # type: ignore[attr-defined]
    )


async def record_of(db: Database, account: Account) -> AddressRecord | None:
    """The account's addresses, or None when this database has no such account."""
    async with db.reader() as conn:
        row = (await conn.execute(_of_account, caller_params(account.user_id, account.account_key))).first()
    return None if row is None else _record(row)


async def find_verified(db: Database, address: str) -> AddressRecord | None:
    """The account that confirmed ``address`` (any letter case), if one did."""
    async with db.reader() as conn:
        row = (await conn.execute(_by_verified, {"address": address.lower()})).first()
    return None if row is None else _record(row)


async def is_taken(db: Database, address: str, account: Account) -> bool:
    """Whether an account other than ``account`` confirmed ``address``."""
    async with db.reader() as conn:
        row = (await conn.execute(_taken, {"address": address.lower(), "caller_id": account.user_id})).first()
    return row is not None


async def set_addresses(
    db: Database, read: AddressRecord, *, email: str | None, verified: bool, pending: str | None
) -> bool:
    """Replace the addresses ``read`` saw; False when the account is gone or they changed since.

    A compare-and-set: two changes (or a change and a confirmation) racing on
    one account cannot both apply, the later one from a state it never saw.
    AddressTaken when the address is confirmed by another account.
    """
    statement = (
        update(User)
        .where(
            CALLER
            & User.email.is_not_distinct_from(read.email)
            & (User.email_verified == read.email_verified)
            & User.pending_email.is_not_distinct_from(read.pending_email)
        )
        .values(email=email, email_verified=verified, pending_email=pending)
        .execution_options(synchronize_session=False)
    )
    params = caller_params(read.account.user_id, read.account.account_key)
    try:
        async with db.unit_of_work() as unit:
            result = await unit.execute(statement, params)
    except IntegrityError:
        raise AddressTaken() from None
    return bool(result.rowcount)  # type: ignore[attr-defined]
