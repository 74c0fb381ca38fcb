"""Queueing the service's mails from a request: the sender, the TTLs, one enqueue."""

from __future__ import annotations

from datetime import timedelta

from service.mail import messages
from service.mail.messages import Mail, Sender
from service.mail.queue import enqueue_mail
from service.serving.runtime import Runtime
from service.users.addresses import AddressRecord


def sender(rt: Runtime) -> Sender:
    return Sender(rt.settings.mail_from, rt.settings.public_url)


async def send(rt: Runtime, mail: Mail, *, discard: bool = False) -> None:
    """Queue ``mail`` (one Redis write, never a wait on SMTP); 503 when Redis cannot take it."""
    await enqueue_mail(rt.mail, mail, discard=discard)


async def send_verification(rt: Runtime, to: str, token: str) -> None:
    ttl = timedelta(seconds=rt.settings.email_token_ttl)
    await send(rt, messages.verify_email(sender(rt), to, token, ttl))


async def notify_password_changed(rt: Runtime, record: AddressRecord) -> None:
    """The 'password changed' notice, when the account has a confirmed address."""
    if record.verified_email:
        await send(rt, messages.password_changed_notice(sender(rt), record.verified_email))


async def notify_password_reset(rt: Runtime, record: AddressRecord) -> None:
    if record.verified_email:
        await send(rt, messages.password_reset_notice(sender(rt), record.verified_email))


async def notify_second_factor(rt: Runtime, record: AddressRecord, *, enabled: bool) -> None:
    """The 'two-step sign-in on/off' notice, when the account has a confirmed address."""
    if record.verified_email:
        await send(rt, messages.second_factor_notice(sender(rt), record.verified_email, enabled))
