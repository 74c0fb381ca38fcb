"""The mails the service sends: plain text with a simple HTML alternative, one builder each.

Every mail says what to do if it was not the reader who caused it.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from urllib.parse import quote

SERVICE_NAME = "Notes"


@dataclass(frozen=True)
class Sender:
    """Who mails come from and where their links point."""

    mail_from: str
    public_url: str  # no trailing slash

    def link(self, path: str, token: str) -> str:
        return f"{self.public_url.rstrip('/')}/{path}?token={quote(token, safe='')}"


@dataclass(frozen=True)
class Mail:
    """A message ready to queue; ``link`` is what development logs beside it (it holds a token)."""

    kind: str
    message: EmailMessage
    link: str | None = None


def describe(duration: timedelta) -> str:
    """``timedelta(minutes=30)`` → "30 minutes"; whole days, hours or minutes, the largest that fits."""
    seconds = int(duration.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    minutes = max(1, round(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _expiry(expires_in: timedelta, now: datetime | None) -> str:
    at = (now or datetime.now(UTC)) + expires_in
    return f"The link works once and expires in {describe(expires_in)} (at {at:%Y-%m-%d %H:%M} UTC)."


def _compose(
    sender: Sender, to: str, subject: str, paragraphs: list[str], link: tuple[str, str] | None = None
) -> EmailMessage:
    """Plain text first, then the same words as HTML; the link stands on its own line in both."""
    lines: list[str] = []
    parts: list[str] = []
    for index, paragraph in enumerate(paragraphs):
        lines.append(paragraph)
        parts.append(f"<p>{html.escape(paragraph)}</p>")
        if index == 0 and link is not None:
            label, url = link
            lines.append(url)
            parts.append(f'<p><a href="{html.escape(url)}">{html.escape(label)}</a></p>')
            parts.append(f'<p style="font-size:small">{html.escape(url)}</p>')
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender.mail_from
    message["To"] = to
    message["Date"] = format_datetime(datetime.now(UTC))
    domain = parseaddr(sender.mail_from)[1].rpartition("@")[2] or None
    message["Message-ID"] = make_msgid(domain=domain)
    message["Auto-Submitted"] = "auto-generated"  # vacation responders stay quiet
    footer = f"— {SERVICE_NAME}, {sender.public_url}"
    message.set_content("\n\n".join([*lines, footer]) + "\n")
    body = "\n".join(parts)
    message.add_alternative(
        '<!doctype html>\n<html><body style="font-family:sans-serif;max-width:40em">\n'
        f'{body}\n<p style="color:#666">{html.escape(footer)}</p>\n</body></html>\n',
        subtype="html",
    )
    return message


def verify_email(
    sender: Sender, to: str, token: str, expires_in: timedelta, now: datetime | None = None
) -> Mail:
    link = sender.link("verify-email", token)
    message = _compose(
        sender,
        to,
        f"Confirm your address for {SERVICE_NAME}",
        [
            f"Please confirm that {to} is your address by opening this link:",
            _expiry(expires_in, now),
            "If you did not sign up or add this address, ignore this mail: "
            "the address stays unconfirmed and nothing is sent to it again unless someone asks.",
        ],
        ("Confirm my address", link),
    )
    return Mail("verify_email", message, link)


def password_reset(
    sender: Sender, to: str, token: str, expires_in: timedelta, now: datetime | None = None
) -> Mail:
    link = sender.link("reset-password", token)
    message = _compose(
        sender,
        to,
        f"Reset your {SERVICE_NAME} password",
        [
            "Someone asked to reset the password of the account with this address. "
            "To choose a new password, open this link:",
            _expiry(expires_in, now),
            "Setting a new password signs out every session and ends every personal access token.",
            "If it was not you, ignore this mail: your password stays as it is. "
            "If such mails keep coming, someone may be trying your address.",
        ],
        ("Choose a new password", link),
    )
    return Mail("password_reset", message, link)


def _not_you(sender: Sender) -> str:
    return (
        f"If it was not you, reset your password at once with 'Forgot password' at {sender.public_url} "
        "using this address: that signs out every session, including the intruder's."
    )


def password_changed_notice(sender: Sender, to: str) -> Mail:
    message = _compose(
        sender,
        to,
        f"Your {SERVICE_NAME} password was changed",
        ["The password of your account was just changed.", _not_you(sender)],
    )
    return Mail("password_changed", message)


def password_reset_notice(sender: Sender, to: str) -> Mail:
    message = _compose(
        sender,
        to,
        f"Your {SERVICE_NAME} password was reset",
        [
            "The password of your account was just reset through a link mailed to this address; "
            "every session and personal access token of the account has ended.",
            _not_you(sender),
        ],
    )
    return Mail("password_reset_done", message)


def email_changed_notice(sender: Sender, to: str, new_address: str) -> Mail:
    """Sent to the old address: it keeps working until the new one is confirmed."""
    message = _compose(
        sender,
        to,
        f"The address of your {SERVICE_NAME} account is changing",
        [
            f"Someone signed in to your account asked to change its address from {to} to {new_address}. "
            "The change takes effect once the new address is confirmed.",
            f"If it was not you, reset your password now with 'Forgot password' at {sender.public_url} "
            "using this address, before the new one is confirmed: that signs out every session.",
        ],
    )
    return Mail("email_changed", message)


def second_factor_notice(sender: Sender, to: str, enabled: bool) -> Mail:
    if enabled:
        subject = f"Two-step sign-in is on for your {SERVICE_NAME} account"
        what = "Two-step sign-in was turned on: signing in now needs a code from your authenticator app."
    else:
        subject = f"Two-step sign-in is off for your {SERVICE_NAME} account"
        what = "Two-step sign-in was turned off: your password alone now signs you in."
    message = _compose(sender, to, subject, [what, _not_you(sender)])
    return Mail("mfa_enabled" if enabled else "mfa_disabled", message)
