"""Passwords as credentials: the check behind both logins, and changing the password.

Both count against the login limits before any bcrypt work, and both read
or bump the password epoch, so a login racing a password change opens no
session that outlives it (see password_epochs).
"""

from __future__ import annotations

from service.auth import limits
from service.auth.password_epochs import PasswordEpoch, bump_epoch, read_epoch
from service.auth.schemas import Credentials
from service.auth.second_factor import require_second_factor
from service.auth.sessions import ClientInfo, Principal, end_sessions
from service.errors import Forbidden, Unauthorized
from service.serving.runtime import Runtime
from service.users import accounts, repository
from service.users.keys import Account
from service.users.schemas import PasswordChange, could_be_username


async def check_credentials(
    rt: Runtime, form: Credentials, client: ClientInfo
) -> tuple[Account, PasswordEpoch]:
    """The account the credentials prove and the password epoch they were checked in.

    One 401 for every kind of failure; 429 when over the limit.
    """
    await limits.count_attempt(rt.redis, rt.settings, username=form.username, ip=client.ip)
    epoch = await read_epoch(rt.redis, form.username)  # before the hash: see password_epochs
    # A name no account can have is not looked up: PostgreSQL refuses a NUL in
    # text outright (a 500), and the answer is "unknown user" either way.
    found = await repository.find_login(rt.db, form.username) if could_be_username(form.username) else None
    account, password_hash = found if found is not None else (None, None)
    if not await rt.passwords.verify(form.password, password_hash) or account is None:
        raise Unauthorized("Invalid username or password.")
    await limits.refund_attempt(rt.redis, username=form.username, ip=client.ip)
    return account, epoch


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
    await accounts.set_password(rt, caller.account, username=username, new_password=form.new_password)
    await bump_epoch(rt.redis, username)  # after the new hash, before ending sessions: see password_epochs
    await end_sessions(rt.redis, account=caller.account, keep=caller.session_id)
