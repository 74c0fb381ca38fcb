"""Passwords as credentials: the check behind both logins, and changing the password.

Both count against the login limits before any bcrypt work, and both read
or bump the password epoch, so a login racing a password change opens no
session that outlives it (see password_epochs).
"""

from __future__ import annotations

from service.auth import limits
from service.auth.email import mailing
from service.auth.events import records as events
from service.auth.mfa.second_factor import require_second_factor
from service.auth.password_epochs import PasswordEpoch, bump_epoch, read_epoch, username_digest
from service.auth.schemas import Credentials
from service.auth.sessions import ClientInfo, Principal, end_sessions
from service.errors import Forbidden, TooManyRequests, Unauthorized
from service.serving.runtime import Runtime
from service.users import accounts, addresses, repository
from service.users.keys import Account
from service.users.schemas import PasswordChange, could_be_username


async def check_credentials(
    rt: Runtime, form: Credentials, client: ClientInfo
) -> tuple[Account, PasswordEpoch]:
    """The account the credentials prove and the password epoch they were checked in.

    One 401 for every kind of failure; 429 when over the limit.
    """
    try:
        await limits.count_attempt(rt.redis, rt.settings, username=form.username, ip=client.ip)
    except TooManyRequests:
        await _record_limited(rt, form.username, client)
        raise
    epoch = await read_epoch(rt.redis, form.username)  # before the hash: see password_epochs
    found = await _find_login(rt, form.username)
    account, password_hash = found if found is not None else (None, None)
    if not await rt.passwords.verify(form.password, password_hash) or account is None:
        if account is not None:  # an unknown name has no account to record it for
            await events.record_alone(rt.db, account, "login_failed", client)
        raise Unauthorized("Invalid username or password.")
    await limits.refund_attempt(rt.redis, username=form.username, ip=client.ip)
    return account, epoch


async def _find_login(rt: Runtime, username: str) -> tuple[Account, str] | None:
    # A name no account can have is not looked up: PostgreSQL refuses a NUL in
    # text outright (a 500), and the answer is "unknown user" either way.
    return await repository.find_login(rt.db, username) if could_be_username(username) else None


async def _record_limited(rt: Runtime, username: str, client: ClientInfo) -> None:
    """A ``login_limited`` event, at most once per limit window and account.

    Refused attempts cost no bcrypt; without the once-per-window mark, each
    would still cost a database write, which a guessing storm must not buy.
    """
    mark = f"auth:limit:event:{username_digest(username)}"
    if not await rt.redis.set(mark, 1, nx=True, ex=rt.settings.login_window):
        return
    found = await _find_login(rt, username)
    if found is not None:
        await events.record_alone(rt.db, found[0], "login_limited", client)


async def check_current_password(rt: Runtime, account: Account, password: str, client: ClientInfo) -> str:
    """The account's username once ``password`` is its password; 403 when wrong, 429 over the limits."""
    username, password_hash = await accounts.password_of(rt, account)
    # A stolen access token must not become an unlimited password oracle.
    await limits.count_attempt(rt.redis, rt.settings, username=username, ip=client.ip)
    if not await rt.passwords.verify(password, password_hash):
        raise Forbidden("The current password is wrong.")
    await limits.refund_attempt(rt.redis, username=username, ip=client.ip)
    return username


async def change_password(rt: Runtime, caller: Principal, form: PasswordChange, client: ClientInfo) -> None:
    """Set a new password after checking the current one (and the second factor); others are revoked."""
    username = await check_current_password(rt, caller.account, form.current_password, client)
    await require_second_factor(rt, caller.account, form.code, client)
    new_hash = await accounts.hash_new_password(rt, username=username, new_password=form.new_password)
    async with rt.db.unit_of_work() as unit:  # the event commits with the new hash, or neither does
        await accounts.store_password_hash(rt, caller.account, new_hash, unit)
        await events.record(unit, caller.account, "password_changed", client, session_id=caller.session_id)
    await bump_epoch(rt.redis, username)  # after the new hash, before ending sessions: see password_epochs
    await end_sessions(rt.redis, account=caller.account, keep=caller.session_id)
    record = await addresses.record_of(rt.db, caller.account)
    if record is not None:
        await mailing.notify_password_changed(rt, record)
