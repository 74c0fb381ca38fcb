"""One attempt at handing a mail over: to the SMTP relay, or to ``var/outbox/`` with no relay."""

from __future__ import annotations

import logging
import os
import ssl
import tempfile
import time
import uuid
from email import message_from_string, policy
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib

from service.mail.settings import MailSettings, SmtpTarget

log = logging.getLogger("service.mail")


class TemporaryFailure(Exception):
    """The relay deferred the mail (a 4xx): worth another attempt later."""


class PermanentFailure(Exception):
    """The relay refused the mail for good (a 5xx on the sender, the recipients or the data)."""


def parse(raw: str) -> EmailMessage:
    message = message_from_string(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)  # policy.default builds EmailMessage
    return message


def tls_context(settings: MailSettings) -> ssl.SSLContext:
    """The system's CAs, plus ``SMTP_CA_FILE`` for a relay with a private certificate."""
    context = ssl.create_default_context()
    if settings.smtp_ca_file is not None:
        context.load_verify_locations(cafile=str(settings.smtp_ca_file))
    return context


async def send_smtp(settings: MailSettings, target: SmtpTarget, message: EmailMessage) -> None:
    """One SMTP transaction; PermanentFailure on a 5xx refusal, other errors are worth a retry."""
    try:
        await aiosmtplib.send(
            message,
            hostname=target.host,
            port=target.port,
            username=target.username,
            password=target.password,
            use_tls=target.implicit_tls,
            # None: STARTTLS whenever the relay offers it; credentials are refused over plain text anyway.
            start_tls=None if not target.implicit_tls else False,
            tls_context=tls_context(settings),
            timeout=settings.smtp_timeout,
        )
    except aiosmtplib.SMTPRecipientsRefused as refused:
        # Only the codes: the exception's own text lists the addresses.
        codes = sorted({error.code for error in refused.recipients})
        if all(code >= 500 for code in codes):
            raise PermanentFailure(f"every recipient refused ({', '.join(map(str, codes))})") from None
        raise TemporaryFailure(f"recipients deferred ({', '.join(map(str, codes))})") from None
    except (aiosmtplib.SMTPSenderRefused, aiosmtplib.SMTPDataError) as refused:
        if refused.code >= 500:
            raise PermanentFailure(f"refused with {refused.code}") from None
        raise


def write_outbox(directory: Path, message: EmailMessage) -> Path:
    """Write the mail as ``<time>-<id>.eml``, atomically: a reader never sees half a file."""
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:12]}.eml"
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(message.as_bytes())
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, final)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return final


async def hand_over(settings: MailSettings, raw: str, kind: str, link: str | None) -> None:
    """Deliver once; raises what the caller should retry, or PermanentFailure."""
    message = parse(raw)
    target = settings.smtp
    if target is None:
        path = write_outbox(settings.outbox_dir, message)
        if settings.logs_links and link:
            log.info("mail %s written to %s; its link: %s", kind, path, link)
        else:
            log.info("mail %s written to %s", kind, path)
        return
    await send_smtp(settings, target, message)
    log.info("mail %s handed to %s:%d", kind, target.host, target.port)
