"""The caller's email address: given at registration, changed with the password, confirmed by a link.

A confirmed address being changed stays the account's (and receives its
notices and reset links) until the new one is confirmed; an unconfirmed one
is simply replaced. Confirmed addresses are unique without regard to case
(a partial unique index); unconfirmed ones may repeat, so registering or
changing to an address tells nothing about other accounts.
"""

from __future__ import annotations

import logging

from redis.exceptions import RedisError

from service.auth import limits
from service.auth.email import mail_tokens, mailing
from service.auth.events import records as events
from service.auth.mfa.second_factor import require_second_factor
from service.auth.sessions import ClientInfo, Principal
from service.errors import BadRequest, Conflict, DependencyDown, Forbidden, ValidationFailed
from service.mail import messages
from service.serving.runtime import Runtime
from service.users import accounts, addresses
from service.users.addresses import AddressRecord, AddressTaken
from service.users.keys import Account, AccountGone
from service.users.models import User
from service.users.schemas import EmailChange, UserCreate

log = logging.getLogger("service.accounts")
_ATTEMPTS = 3
CHANGED_MEANWHILE = "The account's addresses changed meanwhile; read them again and retry."
RETRY_LINK = "The account's addresses kept changing while the link was confirmed; open it again."


async def register(rt: Runtime, form: UserCreate) -> User:
    """Create the account; with an address, a verification mail goes to it.

    The account exists once stored: with Redis down the answer is still its
    201 (a 503 would make the retry a 409), and the mail is asked for again
    with POST /auth/email/verification.
    """
    user = await accounts.register(rt, form)
    if form.email is not None:
        try:
            await _send_verification(rt, Account(user.id, user.account_key), form.email)
        except (DependencyDown, RedisError) as error:
            log.warning("verification mail for user %d not queued: %s", user.id, type(error).__name__)
    return user


async def record_of(rt: Runtime, account: Account) -> AddressRecord:
    """The account's addresses; 401 when it is gone."""
    record = await addresses.record_of(rt.db, account)
    if record is None:
        raise AccountGone()
    return record


async def _send_verification(rt: Runtime, account: Account, to: str) -> None:
    ttl = rt.settings.email_token_ttl
    token = await mail_tokens.issue(rt.redis, "verify", account, address=to, ttl=ttl)
    await mailing.send_verification(rt, to, token)


async def change_email(rt: Runtime, caller: Principal, form: EmailChange, client: ClientInfo) -> None:
    """Check the current password, then mail the new address a link; the old confirmed one is told."""
    record = await record_of(rt, caller.account)
    # Counted like a login: a stolen access token must not become a password oracle.
    await limits.count_attempt(rt.redis, rt.settings, username=record.username, ip=client.ip)
    if not await rt.passwords.verify(form.current_password, record.password_hash):
        raise Forbidden("The current password is wrong.")
    await limits.refund_attempt(rt.redis, username=record.username, ip=client.ip)
    await require_second_factor(rt, caller.account, form.code, client)
    new = form.email
    if record.email_verified and record.email is not None and record.email.lower() == new.lower():
        raise Conflict("That is already the account's confirmed address.")
    if await addresses.is_taken(rt.db, new, caller.account):
        raise Conflict("That address belongs to another account.")
    if record.email_verified:
        stored = await addresses.set_addresses(rt.db, record, email=record.email, verified=True, pending=new)
    else:
        stored = await addresses.set_addresses(rt.db, record, email=new, verified=False, pending=None)
    if not stored:
        await record_of(rt, caller.account)  # 401 if the account is what went meanwhile
        raise Conflict(CHANGED_MEANWHILE)
    await events.record_alone(rt.db, caller.account, "email_changed", client, session_id=caller.session_id)
    await _send_verification(rt, caller.account, new)
    if record.verified_email:
        await mailing.send(rt, messages.email_changed_notice(mailing.sender(rt), record.verified_email, new))


async def request_verification(rt: Runtime, caller: Principal) -> None:
    """A new verification mail (the older link stops working); 409 if confirmed, 422 with no address."""
    record = await record_of(rt, caller.account)
    target = record.pending_email or (None if record.email_verified else record.email)
    if target is None:
        if record.email_verified:
            raise Conflict("The address is already confirmed.")
        message = "the account has no address: set one with PUT /api/v1/users/me/email"
        raise ValidationFailed(f"email: {message}", errors=[{"field": "email", "message": message}])
    await _send_verification(rt, caller.account, target)


async def verify(rt: Runtime, token: str, client: ClientInfo | None = None) -> None:
    """Spend a verification token; its address becomes the account's confirmed one. 400 otherwise.

    Confirming is idempotent, so the token is spent after the write: a database
    fault (503) leaves the link working for another try.
    """
    found = await mail_tokens.peek(rt.redis, "verify", token)
    # A concurrent change of the addresses makes the write miss: decide again on what is stored now.
    for _ in range(_ATTEMPTS):
        record = await addresses.record_of(rt.db, found.account)
        if record is None:
            raise BadRequest(mail_tokens.INVALID)
        # The link is for the address it was mailed to, and only while that is still being confirmed.
        if record.pending_email == found.address:
            email, pending = found.address, None
        elif record.email == found.address and not record.email_verified:
            email, pending = found.address, record.pending_email
        else:
            raise BadRequest(mail_tokens.INVALID)
        try:
            if await addresses.set_addresses(rt.db, record, email=email, verified=True, pending=pending):
                break
        except AddressTaken:
            raise BadRequest("Another account confirmed that address first.") from None
    else:  # changed under every attempt: the link is not spent and works on a retry
        raise BadRequest(RETRY_LINK)
    await mail_tokens.spend(rt.redis, "verify", token)
    await events.record_alone(rt.db, found.account, "email_verified", client)
