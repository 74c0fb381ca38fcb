"""Deleting the caller's account: the rows in one transaction, every login session in Redis.

The order is chosen so that no token outlives the account:

1. the password is checked (counted against the login limits, like a change);
2. the password epoch is bumped, so a login already past its password check
   cannot open a session any more, every session is ended and every personal
   access token revoked: from here on every token and cookie of the account
   is refused on every instance;
3. the account, its notes and its security events are deleted in one unit of
   work; if the database fails here the client gets a 503 and the account is
   intact, merely logged out;
4. the sessions are ended once more, for a login that started between 2 and 3.

A new account with the same username (even the same id, on a database that
reuses ids) has a new account key, so nothing of the old one, in Redis or in
the database, reaches it.
"""

from __future__ import annotations

import logging

from service.auth.credentials import check_current_password
from service.auth.events import records as events
from service.auth.mfa.second_factor import require_second_factor
from service.auth.password_epochs import bump_epoch
from service.auth.sessions import ClientInfo, Principal, end_sessions
from service.auth.tokens import personal as personal_tokens
from service.notes import repository as notes
from service.serving.runtime import Runtime
from service.users import repository
from service.users.keys import AccountGone

log = logging.getLogger("service.accounts")


async def delete_account(
    rt: Runtime, caller: Principal, current_password: str, client: ClientInfo, code: str | None = None
) -> None:
    """Delete the caller's account and everything of it; 403 for a wrong password (or second-factor code)."""
    username = await check_current_password(rt, caller.account, current_password, client)
    await require_second_factor(rt, caller.account, code, client)
    await bump_epoch(rt.redis, username)
    await end_sessions(rt.redis, account=caller.account)
    # Tombstones over cached verdicts: the tokens stop at once, before their rows go.
    await personal_tokens.revoke_all_tokens(rt, caller.account)
    async with rt.db.unit_of_work() as unit:
        await events.delete_all_of(unit, caller.account)
        await notes.delete_all_notes(unit, user_id=caller.user_id, account_key=caller.account_key)
        if not await repository.delete_account(unit, caller.account):
            raise AccountGone()  # deleted meanwhile by another request: this unit rolls back
    await end_sessions(rt.redis, account=caller.account)
    log.info("account deleted", extra={"fields": {"event": "account_deleted", "user_id": caller.user_id}})
