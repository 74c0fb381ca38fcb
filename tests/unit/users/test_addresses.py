"""Address changes are compare-and-set: a write from a state that changed meanwhile is refused."""

from __future__ import annotations

import asyncio

from service.db import Database
from service.users import addresses
from service.users.keys import Account, new_account_key
from service.users.models import User
from tests.conftest import base_settings


def test_a_change_from_a_stale_read_stores_nothing(database_url: str, redis_url: str) -> None:
    async def scenario() -> tuple[bool, bool, addresses.AddressRecord | None]:
        db = Database(base_settings(database_url, redis_url))
        try:
            async with db.unit_of_work() as unit:
                user = User(username="racer", password_hash="x" * 60, account_key=new_account_key())
                user.email, user.email_verified = "old@example.com", True
                unit.add(user)
                await unit.flush()
                account = Account(user.id, user.account_key)
            read = await addresses.record_of(db, account)
            assert read is not None
            first = await addresses.set_addresses(
                db, read, email="old@example.com", verified=True, pending="first@example.com"
            )
            # The second writer read before the first wrote: its state is gone.
            second = await addresses.set_addresses(
                db, read, email="second@example.com", verified=False, pending=None
            )
            return first, second, await addresses.record_of(db, account)
        finally:
            await db.close()

    first, second, stored = asyncio.run(scenario())
    assert (first, second) == (True, False)
    assert stored is not None
    assert (stored.email, stored.email_verified, stored.pending_email) == (
        "old@example.com",
        True,
        "first@example.com",
    )
