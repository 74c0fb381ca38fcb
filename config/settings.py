"""Typed settings built from the environment: the only place that reads os.environ.

Each field is read from the upper-cased environment variable of its name
(``Settings.from_env``); building ``Settings(...)`` directly takes the defaults
and the keywords given, and reads no environment (tests rely on that).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from config.redis_url import is_cluster_url, is_sentinel_url, parse_cluster_url, parse_sentinel_url
from config.setting_errors import SettingsError, describe
from config.setting_types import NotNegative, Positive, PositiveSeconds, Url

ENVIRONMENTS = ("development", "test", "production")
DEV_SECRET = "dev-only-insecure-secret-do-not-use-in-production"
MIN_SECRET_LENGTH = 32
DATABASE_SCHEMES = ("sqlite+aiosqlite://", "postgresql+asyncpg://")
REDIS_SCHEMES = ("redis://", "rediss://", "unix://", "redis+sentinel://", "redis+cluster://")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class Settings(BaseSettings):
    """Every knob of the service; each field is read from the upper-cased env var."""

    model_config = SettingsConfigDict(
        frozen=True, extra="forbid", env_ignore_empty=True, hide_input_in_errors=True
    )

    app_env: Literal["development", "test", "production"] = "development"
    secret_key: SecretStr = SecretStr(DEV_SECRET)
    database_url: Url = "sqlite+aiosqlite:///var/service.db"
    redis_url: Url = "redis://127.0.0.1:6379/0"
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8000
    workers: NotNegative = 1
    bcrypt_rounds: Annotated[int, Field(ge=4, le=31)] = 12
    # Tokens: short access tokens keep the revocation window small even if a
    # client ignores logout; the refresh token bounds a login session.
    access_token_ttl: Positive = 900
    refresh_token_ttl: Positive = 14 * 24 * 3600
    max_body_bytes: Positive = 1024 * 1024
    bcrypt_threads: Positive = 2
    redis_max_connections: Positive = 64
    redis_pool_timeout: float = 5.0
    redis_socket_timeout: float = 2.0
    # A fixed pool: under steady load above DB_POOL_SIZE, every overflow
    # connection is closed when returned and opened again for the next
    # request (a PostgreSQL backend forked per request); see the README.
    db_pool_size: Positive = 20
    db_max_overflow: NotNegative = 0
    db_pool_timeout: PositiveSeconds = 5.0
    db_connect_timeout: PositiveSeconds = 5.0
    db_pool_pre_ping: bool = False
    log_level: str = "INFO"
    graceful_timeout: float = 10.0
    read_timeout: int = 30
    keep_alive_timeout: float = 5.0
    # Brute-force limits: password attempts per fixed window, counted per
    # account and per client IP; the IP budget is larger because many users
    # may share one address (NAT, an office).
    login_window: Positive = 900
    login_max_per_account: Positive = 10
    login_max_per_ip: Positive = 100
    # Logins a user may hold at once; a new one beyond this ends the oldest.
    max_sessions_per_user: Positive = 100
    # A session's last-seen time is written at most once per this many
    # seconds: other requests only read Redis, so they add nothing to fsync
    # (appendfsync always) or to replicate.
    session_seen_interval: NotNegative = 60
    # PostgreSQL cancels a statement running longer than this (seconds, 0 =
    # never): one runaway query must not hold a pooled connection for good.
    db_statement_timeout: Annotated[float, Field(ge=0)] = 5.0
    # Seconds after which a pooled connection is replaced (-1 = never), below
    # the idle cut-off of firewalls and PgBouncer-style proxies.
    db_pool_recycle: int = 1800
    # How many reverse proxies in front of the service may set X-Forwarded-*:
    # 1 behind our nginx, 2 if a cloud load balancer sits in front of it, 0
    # when clients reach the service directly (their headers are ignored).
    trusted_proxies: NotNegative = 0
    # A logout is acknowledged only once this many replicas hold it (Redis
    # WAIT), so a failover cannot bring a revoked session back; 503 when they
    # do not answer within REDIS_REPLICA_TIMEOUT seconds. 0 = do not wait.
    redis_replica_acks: NotNegative = 0
    redis_replica_timeout: PositiveSeconds = 1.0
    # Seconds the service waits for any one database command before giving
    # up with a 503 (PostgreSQL; SQLite's busy wait is DB_CONNECT_TIMEOUT).
    # The server-side statement timeout cannot help when the network itself
    # swallows the bytes; this client-side one can. Above DB_STATEMENT_TIMEOUT,
    # so a slow statement is cancelled by the server first and its backend freed.
    db_command_timeout: float = 6.0
    # hypercorn's worker class: "asyncio" (the standard library's loop) or
    # "uvloop". The standard loop accepts every waiting connection at once
    # where uvloop accepts one per turn of its loop (README, the tail).
    worker_class: Literal["asyncio", "uvloop"] = "asyncio"
    # Where prometheus_client's multiprocess mode keeps each worker's values;
    # config/hypercorn.py sets it up when WORKERS > 1 (empty: one process).
    prometheus_multiproc_dir: str = ""
    # Security events: kept this many days, then pruned by the
    # worker's scheduled job or `python -m service prune-events`.
    event_retention_days: Positive = 90
    # Email: mail goes through the queue in Redis to SMTP_URL
    # (smtp://[user:pass@]host:port, STARTTLS when offered; smtps:// implicit
    # TLS). Unset, the worker writes .eml files to MAIL_OUTBOX_DIR; production
    # refuses to start without it (config/startup.py, the worker). Links in
    # mails point at PUBLIC_URL. Forgot-password requests are limited per
    # address and per client IP in FORGOT_WINDOW seconds.
    smtp_url: Url | None = None
    mail_from: str = "Notes <no-reply@localhost.localdomain>"
    public_url: str = "http://127.0.0.1:8000"
    email_token_ttl: Positive = 24 * 3600
    password_reset_ttl: Positive = 30 * 60
    forgot_window: Positive = 3600
    forgot_max_per_address: Positive = 5
    forgot_max_per_ip: Positive = 50
    mail_outbox_dir: str = "var/outbox"
    mail_queue: str = "mail"
    # The mail queue's Redis when it is not REDIS_URL's (e.g. the sessions' cluster
    # is to hold sessions only). Empty: REDIS_URL.
    mail_queue_redis_url: str = ""
    # Attempts in all; the delay doubles from base to max between them (about
    # five hours of relay outage ridden out by default).
    mail_max_attempts: Positive = 35
    mail_retry_base_delay: PositiveSeconds = 5.0
    mail_retry_max_delay: PositiveSeconds = 600.0
    smtp_timeout: PositiveSeconds = 30.0
    mail_reclaim_after: PositiveSeconds = 120.0
    smtp_ca_file: str = ""
    # Tokens other services can trust: SIGNING_KEYS lists PEM
    # private keys, the first signs and all verify (docs/deployment.md,
    # rotation); iss defaults to PUBLIC_URL. REFRESH_REUSE_GRACE: seconds in
    # which the same client may present a spent refresh token again and get
    # the same new pair (0 = never). INTROSPECTION_CLIENTS: "id:secret,...".
    signing_keys: str = ""
    token_issuer: str = ""
    token_audience: str = "notes-api"
    refresh_reuse_grace: NotNegative = 10
    introspection_clients: SecretStr = SecretStr("")
    # Second factor (TOTP): Fernet keys (comma-separated; the first encrypts, all
    # decrypt, so a new key goes first) for the secrets at rest; empty outside
    # production means a generated key kept under var/. The issuer names us in
    # authenticator apps. A login's mfa_token lives MFA_TOKEN_TTL seconds.
    mfa_token_ttl: Positive = 300
    mfa_encryption_keys: SecretStr = SecretStr("")
    mfa_issuer: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^:]+$")] = "service"

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as error:
            raise SettingsError(describe(error.errors()[0], type(self).model_fields)) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Keywords only: from_env reads the environment it is given instead.
        return (init_settings,)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from environment variables named like the fields."""
        source = _Environment(cls, os.environ if environ is None else environ)
        return cls(**source())

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed, validated again."""
        return type(self)(**(dict(self) | changes))

    def validated(self) -> Settings:
        """The settings themselves: they are checked when built."""
        return self

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    @property
    def issuer(self) -> str:
        """TOKEN_ISSUER, or the public URL without a trailing slash."""
        return self.token_issuer or self.public_url.rstrip("/")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgresql")

    @property
    def worker_count(self) -> int:
        """WORKERS, where 0 means one per CPU core this process may run on."""
        return self.workers or len(os.sched_getaffinity(0))

    @field_validator("database_url")
    @classmethod
    def _database_driver(cls, url: str) -> str:
        scheme, sep, _ = url.partition("://")
        if not sep:
            raise ValueError(
                "is not a URL: expected e.g. sqlite+aiosqlite:///var/service.db "
                "or postgresql+asyncpg://user:password@host:5432/database"
            )
        if not url.startswith(DATABASE_SCHEMES):
            raise ValueError(
                f"must start with {' or '.join(DATABASE_SCHEMES)} (the drivers the service ships), "
                f"not {scheme + sep!r}"
            )
        return url

    @field_validator("redis_url", "mail_queue_redis_url")
    @classmethod
    def _redis_form(cls, url: str, info: ValidationInfo) -> str:
        if not url and info.field_name == "mail_queue_redis_url":
            return url  # the queue is in REDIS_URL's Redis
        if not url.startswith(REDIS_SCHEMES):
            raise ValueError(f"must start with {', '.join(REDIS_SCHEMES)} (e.g. redis://127.0.0.1:6379/0)")
        if is_sentinel_url(url):
            try:
                parse_sentinel_url(url)
            except ValueError as error:
                raise ValueError(f"is not a Sentinel URL: {error}") from None
        if is_cluster_url(url):
            try:
                parse_cluster_url(url)
            except ValueError as error:
                raise ValueError(f"is not a Redis Cluster URL: {error}") from None
        return url

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, level: str) -> str:
        if level.upper() not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}, not {level!r}")
        return level.upper()

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        secret = self.secret_key.get_secret_value()
        if self.is_production and (secret == DEV_SECRET or len(secret) < MIN_SECRET_LENGTH):
            raise ValueError(
                f"SECRET_KEY must be set to a random string of at least {MIN_SECRET_LENGTH} "
                "characters when APP_ENV=production "
                '(e.g. python -c "import secrets; print(secrets.token_urlsafe(48))")'
            )
        if self.access_token_ttl > self.refresh_token_ttl:
            raise ValueError("ACCESS_TOKEN_TTL must not exceed REFRESH_TOKEN_TTL")
        if self.graceful_timeout < self.keep_alive_timeout:  # a stop drains idle connections that long
            raise ValueError("GRACEFUL_TIMEOUT must be at least KEEP_ALIVE_TIMEOUT (docs/deployment.md)")
        # Email: the mail settings' own checks (the relay itself is required at start).
        from service.mail.settings import MailSettings  # service.mail needs nothing from here

        MailSettings.from_settings(self).validated(relay_required=False)
        if self.is_production and not self.signing_keys.strip():
            raise ValueError(
                "SIGNING_KEYS must be set when APP_ENV=production: "
                "generate a key with `python -m service keys generate` and list its path"
            )
        for entry in self.introspection_clients.get_secret_value().split(","):
            client, sep, secret = entry.strip().partition(":")
            if entry.strip() and not (sep and client and secret):
                raise ValueError("INTROSPECTION_CLIENTS must list id:secret pairs separated by commas")
        return self


class _Environment(EnvSettingsSource):
    """pydantic-settings' environment source, over the mapping ``from_env`` was given."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        # Upper-case names only, as documented; an empty value means unset.
        return {name.lower(): value for name, value in self._environ.items() if name.isupper() and value}


def load_settings() -> Settings:
    """Settings for this process, from its environment."""
    return Settings.from_env()


def load_settings_or_exit() -> Settings:
    """Settings for a command that starts: a bad setting is one line on stderr, not a traceback."""
    try:
        return load_settings()
    except SettingsError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
