"""What each mail says: both parts, the link, the expiry, and what to do if it was not you."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest

from service.mail.messages import (
    Mail,
    Sender,
    describe,
    email_changed_notice,
    password_changed_notice,
    password_reset,
    password_reset_notice,
    second_factor_notice,
    verify_email,
)

SENDER = Sender("Notes <no-reply@notes.test>", "https://notes.test")
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def parts(message: EmailMessage) -> tuple[str, str]:
    assert message.get_content_type() == "multipart/alternative"
    plain, html = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None and html is not None
    return plain.get_content(), html.get_content()


def every_mail() -> list[Mail]:
    return [
        verify_email(SENDER, "ann@example.com", "t0ken", timedelta(hours=24), NOW),
        password_reset(SENDER, "ann@example.com", "t0ken", timedelta(minutes=30), NOW),
        password_changed_notice(SENDER, "ann@example.com"),
        password_reset_notice(SENDER, "ann@example.com"),
        email_changed_notice(SENDER, "ann@example.com", "new@example.com"),
        second_factor_notice(SENDER, "ann@example.com", enabled=True),
        second_factor_notice(SENDER, "ann@example.com", enabled=False),
    ]


@pytest.mark.parametrize("mail", every_mail(), ids=lambda mail: mail.kind)
def test_every_mail_has_both_parts_headers_and_says_what_to_do_if_it_was_not_you(mail: Mail) -> None:
    message = mail.message
    assert message["From"] == "Notes <no-reply@notes.test>" and message["To"] == "ann@example.com"
    assert message["Subject"] and message["Date"] and message["Message-ID"].endswith("@notes.test>")
    assert message["Auto-Submitted"] == "auto-generated"
    plain, html = parts(message)
    for text in (plain, html):
        assert "not you" in text or "did not" in text
    assert html.startswith("<!doctype html>")


def test_the_verification_mail_links_to_verify_email_with_its_expiry() -> None:
    mail = verify_email(SENDER, "ann@example.com", "abc+/=", timedelta(hours=24), NOW)
    plain, html = parts(mail.message)
    assert mail.link == "https://notes.test/verify-email?token=abc%2B%2F%3D"  # a token survives the URL
    assert mail.link in plain and f'href="{mail.link}"' in html
    assert "expires in 1 day (at 2026-12-02 12:00 UTC)" in plain
    assert "ignore this mail" in plain


def test_the_reset_mail_links_to_reset_password_and_warns_that_sessions_end() -> None:
    mail = password_reset(SENDER, "ann@example.com", "t0ken", timedelta(minutes=30), NOW)
    plain, html = parts(mail.message)
    assert mail.link == "https://notes.test/reset-password?token=t0ken"
    assert mail.link in plain and mail.link in html
    assert "expires in 30 minutes (at 2026-12-01 12:30 UTC)" in plain
    assert "signs out every session" in plain
    assert "If it was not you, ignore this mail" in plain


def test_notices_carry_no_link_with_a_token() -> None:
    for mail in every_mail()[2:]:
        assert mail.link is None
        assert "token=" not in parts(mail.message)[0]


def test_the_address_change_notice_names_both_addresses() -> None:
    plain, _ = parts(email_changed_notice(SENDER, "old@example.com", "new@example.com").message)
    assert "from old@example.com to new@example.com" in plain
    assert "before the new one is confirmed" in plain


def test_html_is_escaped() -> None:
    sender = Sender("Notes <no-reply@notes.test>", "https://notes.test/?a=1&b=<2>")
    _, html = parts(password_changed_notice(sender, "ann@example.com").message)
    assert "<2>" not in html and "&amp;b=&lt;2&gt;" in html


def test_a_header_injection_is_refused() -> None:
    with pytest.raises(ValueError):
        password_changed_notice(SENDER, "ann@example.com\r\nBcc: all@example.com")


@pytest.mark.parametrize(
    ("duration", "words"),
    [
        (timedelta(minutes=30), "30 minutes"),
        (timedelta(hours=1), "1 hour"),
        (timedelta(hours=24), "1 day"),
        (timedelta(hours=36), "36 hours"),
        (timedelta(seconds=90), "2 minutes"),
    ],
)
def test_durations_read_as_words(duration: timedelta, words: str) -> None:
    assert describe(duration) == words
