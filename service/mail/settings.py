"""What mail delivery needs to know, as one small typed object.

Built from the service's settings (``MailSettings.from_settings``): like the
rest of the service, mail reads no environment of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from email import policy
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    from config.settings import Settings

DEFAULT_SMTP_PORTS = {"smtp": 587, "smtps": 465}
ENVIRONMENTS = ("development", "test", "production")  # as in config/settings.py


@dataclass(frozen=True)
class SmtpTarget:
    """Where ``SMTP_URL`` points: ``smtp://`` is STARTTLS when offered, ``smtps://`` implicit TLS."""

    host: str
    port: int
    implicit_tls: bool
    username: str | None = None
    password: str | None = None

    def __repr__(self) -> str:  # the password stays out of logs and tracebacks
        scheme = "smtps" if self.implicit_tls else "smtp"
        user = f"{self.username}:***@" if self.username else ""
        return f"SmtpTarget({scheme}://{user}{self.host}:{self.port})"


def parse_smtp_url(url: str) -> SmtpTarget:
    """``smtp://[user:pass@]host[:port]`` or ``smtps://…``; ValueError, without the password, if malformed."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError("SMTP_URL must be smtp://[user:pass@]host:port or smtps://…") from None
    if parts.scheme not in DEFAULT_SMTP_PORTS or not parts.hostname:
        raise ValueError("SMTP_URL must be smtp://[user:pass@]host:port or smtps://…")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("SMTP_URL takes no path, query or fragment")
    if (parts.username is None) != (parts.password is None):
        raise ValueError("SMTP_URL needs both a user name and a password, or neither")
    return SmtpTarget(
        host=parts.hostname,
        port=port or DEFAULT_SMTP_PORTS[parts.scheme],
        implicit_tls=parts.scheme == "smtps",
        username=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


def _check_mail_from(value: str) -> str:
    """One address, optionally with a display name, as a From header can carry it."""
    header = policy.default.header_factory("From", value)
    addresses: tuple[Any, ...] = getattr(header, "addresses", ())
    if (
        any(c in value for c in "\r\n")
        or header.defects
        or len(addresses) != 1
        or "@" not in addresses[0].addr_spec
    ):
        raise ValueError(
            "MAIL_FROM must be one address, optionally with a name: 'Notes <no-reply@example.com>'"
        )
    return value


@dataclass(frozen=True)
class MailSettings:
    """Delivery settings; ``validated()`` refuses what would lose or leak mail."""

    redis_url: str
    public_url: str
    mail_from: str
    smtp_url: str | None = None
    app_env: str = "development"
    outbox_dir: Path = Path("var/outbox")
    queue_name: str = "mail"
    # Attempts in all, the first included; the delay doubles from base to max between them.
    # The defaults ride out about five hours of relay outage before a mail is given up.
    max_attempts: int = 35
    retry_base_delay: float = 5.0
    retry_max_delay: float = 600.0
    smtp_timeout: float = 30.0
    # A mail a worker took and did not finish (it died) goes to another worker after this long.
    reclaim_after: float = 120.0
    smtp_ca_file: Path | None = None  # extra CA for a relay with a private certificate

    @property
    def production(self) -> bool:
        return self.app_env == "production"

    @property
    def logs_links(self) -> bool:
        """Only development logs the links a mail carries (they hold live tokens)."""
        return self.app_env == "development"

    @property
    def smtp(self) -> SmtpTarget | None:
        return parse_smtp_url(self.smtp_url) if self.smtp_url else None

    def validated(self, *, relay_required: bool = True) -> MailSettings:
        """These settings, or ValueError naming the variable; ``relay_required``: SMTP_URL in production."""
        if self.app_env not in ENVIRONMENTS:
            raise ValueError(f"APP_ENV must be one of {', '.join(ENVIRONMENTS)}")
        if self.smtp_url:
            parse_smtp_url(self.smtp_url)
        elif self.production and relay_required:
            raise ValueError("SMTP_URL is required in production: mail would go nowhere")
        _check_mail_from(self.mail_from)
        public = urlsplit(self.public_url)
        if public.scheme not in ("http", "https") or not public.netloc or public.query or public.fragment:
            raise ValueError("PUBLIC_URL must be an http(s) URL such as https://notes.example.com")
        if self.max_attempts < 1:
            raise ValueError("MAIL_MAX_ATTEMPTS must be at least 1")
        if not 0 < self.retry_base_delay <= self.retry_max_delay:
            raise ValueError("MAIL_RETRY_BASE_DELAY must be positive and at most MAIL_RETRY_MAX_DELAY")
        if self.smtp_timeout <= 0 or self.reclaim_after <= self.smtp_timeout:
            raise ValueError("MAIL_RECLAIM_AFTER must exceed SMTP_TIMEOUT, or live sends get taken twice")
        if self.smtp_ca_file is not None and not self.smtp_ca_file.is_file():
            raise ValueError("SMTP_CA_FILE must name a readable PEM file")
        return self

    def retry_delay(self, attempt: int) -> float:
        """The wait after failed attempt ``attempt`` (from 1): the base delay, doubled each time, capped."""
        return float(min(self.retry_base_delay * 2 ** (attempt - 1), self.retry_max_delay))

    @classmethod
    def from_settings(cls, settings: Settings) -> MailSettings:
        """The mail part of the service's settings, not yet validated."""
        return cls(
            redis_url=settings.mail_queue_redis_url or settings.redis_url,
            public_url=settings.public_url.rstrip("/"),
            mail_from=settings.mail_from,
            smtp_url=settings.smtp_url or None,
            app_env=settings.app_env,
            outbox_dir=Path(settings.mail_outbox_dir),
            queue_name=settings.mail_queue,
            max_attempts=settings.mail_max_attempts,
            retry_base_delay=settings.mail_retry_base_delay,
            retry_max_delay=settings.mail_retry_max_delay,
            smtp_timeout=settings.smtp_timeout,
            reclaim_after=settings.mail_reclaim_after,
            smtp_ca_file=Path(settings.smtp_ca_file) if settings.smtp_ca_file else None,
        )
