"""Mail settings: what SMTP_URL may say, and what the worker refuses to start with."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from config.setting_errors import SettingsError
from config.settings import Settings
from service.mail.settings import MailSettings, SmtpTarget, parse_smtp_url
from tests.support.processes import ROOT
from tests.support.signing import default_key_path

BASE = {"redis_url": "redis://127.0.0.1:1/0", "public_url": "https://notes.test", "mail_from": "n@notes.test"}


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("smtp://relay.test", SmtpTarget("relay.test", 587, False)),
        ("smtp://relay.test:25", SmtpTarget("relay.test", 25, False)),
        ("smtps://relay.test", SmtpTarget("relay.test", 465, True)),
        (
            "smtp://me%40x.test:p%2Fss@relay.test:2525",
            SmtpTarget("relay.test", 2525, False, "me@x.test", "p/ss"),
        ),
    ],
)
def test_smtp_urls(url: str, target: SmtpTarget) -> None:
    assert parse_smtp_url(url) == target


@pytest.mark.parametrize(
    "url",
    [
        "http://relay.test",
        "smtp://",
        "smtp://relay.test:port",
        "smtp://relay.test/x",
        "smtp://user@relay.test",
    ],
)
def test_malformed_smtp_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="SMTP_URL"):
        parse_smtp_url(url)


def test_the_smtp_password_stays_out_of_errors_and_reprs() -> None:
    with pytest.raises(ValueError) as raised:
        parse_smtp_url("smtp://me:hunter2@relay.test:99999")
    assert "hunter2" not in str(raised.value)
    assert "hunter2" not in repr(parse_smtp_url("smtp://me:hunter2@relay.test"))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"app_env": "production"}, "SMTP_URL is required in production"),
        ({"mail_from": "Notes <n@notes.test>\r\nBcc: x@y.test"}, "MAIL_FROM"),
        ({"mail_from": "a@x.test, b@x.test"}, "MAIL_FROM"),
        ({"public_url": "notes.test"}, "PUBLIC_URL"),
        ({"max_attempts": 0}, "MAIL_MAX_ATTEMPTS"),
        ({"retry_base_delay": 10.0, "retry_max_delay": 5.0}, "MAIL_RETRY_BASE_DELAY"),
        ({"smtp_timeout": 30.0, "reclaim_after": 30.0}, "MAIL_RECLAIM_AFTER"),
        ({"smtp_ca_file": Path("/nonexistent.pem")}, "SMTP_CA_FILE"),
    ],
)
def test_settings_that_would_lose_or_leak_mail_are_refused(
    overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        MailSettings(**(BASE | overrides)).validated()  # type: ignore[arg-type]


def test_the_backoff_doubles_up_to_its_cap() -> None:
    settings = MailSettings(**BASE, retry_base_delay=2.0, retry_max_delay=300.0)  # type: ignore[arg-type]
    assert [settings.retry_delay(n) for n in (1, 2, 3, 8, 9, 30)] == [2.0, 4.0, 8.0, 256.0, 300.0, 300.0]


def test_the_worker_refuses_to_start_in_production_without_smtp_url() -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SMTP_", "MAIL_"))}
    env |= {"PYTHONPATH": str(ROOT), "APP_ENV": "production", "REDIS_URL": "redis://127.0.0.1:1/0"}
    env["SECRET_KEY"] = "k" * 48
    env["SIGNING_KEYS"] = default_key_path()
    done = subprocess.run(
        [sys.executable, "-m", "service.mail.worker"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "SMTP_URL is required in production" in done.stderr and "Traceback" not in done.stderr


def test_a_malformed_number_names_its_variable() -> None:
    with pytest.raises(SettingsError, match="MAIL_MAX_ATTEMPTS must be a whole number"):
        Settings.from_env({"MAIL_MAX_ATTEMPTS": "many"})


def test_the_service_settings_refuse_what_the_mail_settings_refuse() -> None:
    with pytest.raises(SettingsError, match="MAIL_FROM"):
        Settings(mail_from="a@x.test, b@x.test")
    mail = MailSettings.from_settings(Settings(smtp_url="smtp://relay.test:2525", mail_queue="q"))
    assert (mail.smtp, mail.queue_name) == (SmtpTarget("relay.test", 2525, False), "q")
