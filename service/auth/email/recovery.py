"""Password recovery by email: forgot (a link to the confirmed address) and reset.

``forgot`` answers the same for an address no account confirmed: it runs the
same look-up, issues a token (for a dummy account, which no reset accepts),
builds the mail and queues it, to a task that sends nothing. So the answer
and its timing say nothing of whether the address has an account.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from service.auth import limits
from service.auth.email import mail_tokens, mailing
from service.auth.events import records as events
from service.auth.password_epochs import bump_epoch
from service.auth.sessions import ClientInfo, end_sessions
from service.auth.tokens import personal as personal_tokens
from service.errors import BadRequest, TooManyRequests, ValidationFailed
from service.mail import messages
from service.serving.runtime import Runtime
from service.users import accounts, addresses
from service.users.keys import Account

# No account has id 0: the token a miss issues belongs to nobody.
NOBODY = Account(0, "0" * 32)


async def _count_forgot(rt: Runtime, address: str, ip: str) -> None:
    """One forgot request for the address and the client IP; 429 (the same for hit and miss) once over."""
    digest = hashlib.sha256(address.lower().encode()).hexdigest()[:32]
    keys = [f"auth:forgot:address:{digest}", f"auth:forgot:ip:{ip}"]
    settings = rt.settings
    counters = dict(zip(keys, (settings.forgot_max_per_address, settings.forgot_max_per_ip), strict=True))
    wait = await limits.take(rt.redis, settings.forgot_window, counters)  # the login limits' counters
    if wait:
        raise TooManyRequests(f"Too many reset requests; try again in {wait} seconds.", retry_after=wait)


async def forgot(rt: Runtime, address: str, client: ClientInfo) -> None:
    """Mail a reset link if an account confirmed ``address``; the same work and answer if none did."""
    await _count_forgot(rt, address, client.ip)
    record = await addresses.find_verified(rt.db, address)
    ttl = rt.settings.password_reset_ttl
    secret = rt.settings.secret_key.get_secret_value()
    account = record.account if record is not None else NOBODY
    to = record.email if record is not None and record.email else address
    password_hash = record.password_hash if record is not None else ""
    fingerprint = mail_tokens.password_fingerprint(secret, password_hash)
    token = await mail_tokens.issue(rt.redis, "reset", account, address=to, ttl=ttl, password=fingerprint)
    mail = messages.password_reset(mailing.sender(rt), to, token, timedelta(seconds=ttl))
    await mailing.send(rt, mail, discard=record is None)


async def reset(rt: Runtime, token: str, new_password: str, client: ClientInfo | None = None) -> None:
    """Set the password with a reset token; every session ends and the token is spent. 400 otherwise."""
    found = await mail_tokens.peek(rt.redis, "reset", token)
    if found.account == NOBODY:
        raise BadRequest(mail_tokens.INVALID)
    record = await addresses.record_of(rt.db, found.account)
    secret = rt.settings.secret_key.get_secret_value()
    # Dead once the password changed by any path, or the address is no longer the confirmed one.
    if (
        record is None
        or mail_tokens.password_fingerprint(secret, record.password_hash) != found.password
        or record.verified_email != found.address
    ):
        raise BadRequest(mail_tokens.INVALID)
    if new_password.lower() == record.username.lower():  # checked before the token is spent
        message = "must not be the username"
        raise ValidationFailed(
            f"new_password: {message}", errors=[{"field": "new_password", "message": message}]
        )
    await mail_tokens.spend(rt.redis, "reset", token)  # 400 if another request spent it meanwhile
    await accounts.set_password(rt, record.account, username=record.username, new_password=new_password)
    await bump_epoch(rt.redis, record.username)  # after the new hash, before ending sessions
    await end_sessions(rt.redis, account=record.account)
    await personal_tokens.revoke_all_tokens(rt, record.account)
    await events.record_alone(rt.db, record.account, "password_reset", client)
    await mailing.notify_password_reset(rt, record)
