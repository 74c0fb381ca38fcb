"""Typed settings built from the environment: the only place that reads os.environ."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from config.redis_url import is_sentinel_url, parse_sentinel_url

ENVIRONMENTS = ("development", "test", "production")
DEV_SECRET = "dev-only-insecure-secret-do-not-use-in-production"
MIN_SECRET_LENGTH = 32


class SettingsError(ValueError):
    """A setting is missing or invalid; the message says what to set."""


@dataclass(frozen=True)
class Settings:
    """Every knob of the service; each field is read from the upper-cased env var."""

    app_env: str = "development"
    secret_key: str = DEV_SECRET
    database_url: str = "sqlite+aiosqlite:///var/service.db"
    redis_url: str = "redis://127.0.0.1:6379/0"
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    bcrypt_rounds: int = 12
    # Tokens: short access tokens keep the revocation window small even if a
    # client ignores logout; the refresh token bounds a login session.
    access_token_ttl: int = 900
    refresh_token_ttl: int = 14 * 24 * 3600
    max_body_bytes: int = 1024 * 1024
    # Threads that run the WSGI side of each request (Flask's sync layer); the
    # async views themselves run on the server's event loop.
    wsgi_threads: int = 64
    bcrypt_threads: int = 2
    redis_max_connections: int = 64
    redis_pool_timeout: float = 5.0
    redis_socket_timeout: float = 2.0
    # A fixed pool: under steady load above DB_POOL_SIZE, every overflow
    # connection is closed when returned and opened again for the next
    # request (a PostgreSQL backend forked per request); see the README.
    db_pool_size: int = 20
    db_max_overflow: int = 0
    db_pool_timeout: float = 5.0
    db_connect_timeout: float = 5.0
    db_pool_pre_ping: bool = False
    log_level: str = "INFO"
    graceful_timeout: float = 10.0
    read_timeout: int = 30
    keep_alive_timeout: float = 5.0
    # Issue 3, complete authentication: brute-force limits. Password attempts
    # per fixed window, counted per account and per client IP; the IP budget
    # is larger because many users may share one address (NAT, an office).
    login_window: int = 900
    login_max_per_account: int = 10
    login_max_per_ip: int = 100
    # Logins a user may hold at once; a new one beyond this ends the oldest.
    max_sessions_per_user: int = 100
    # A session's last-seen time is written at most once per this many
    # seconds: other requests only read Redis, so they add nothing to fsync
    # (appendfsync always) or to replicate.
    session_seen_interval: int = 60
    # --- Scale out (issue 5): PostgreSQL, proxies, Redis Sentinel ---
    # PostgreSQL cancels a statement running longer than this (seconds, 0 =
    # never): one runaway query must not hold a pooled connection for good.
    db_statement_timeout: float = 5.0
    # Seconds after which a pooled connection is replaced (-1 = never), below
    # the idle cut-off of firewalls and PgBouncer-style proxies.
    db_pool_recycle: int = 1800
    # How many reverse proxies in front of the service may set X-Forwarded-*:
    # 1 behind our nginx, 2 if a cloud load balancer sits in front of it, 0
    # when clients reach the service directly (their headers are ignored).
    trusted_proxies: int = 0
    # A logout is acknowledged only once this many replicas hold it (Redis
    # WAIT), so a failover cannot bring a revoked session back; 503 when they
    # do not answer within REDIS_REPLICA_TIMEOUT seconds. 0 = do not wait.
    redis_replica_acks: int = 0
    redis_replica_timeout: float = 1.0
    # --- Faults, limits and observability (issue 6) ---
    # Seconds the service waits for any one database command before giving
    # up with a 503 (PostgreSQL; SQLite's busy wait is DB_CONNECT_TIMEOUT).
    # The server-side statement timeout cannot help when the network itself
    # swallows the bytes; this client-side one can. Above DB_STATEMENT_TIMEOUT,
    # so a slow statement is cancelled by the server first and its backend freed.
    db_command_timeout: float = 6.0
    # --- Performance (issue 7) ---
    # Where Flask's synchronous layer runs: "loop" (in a greenlet on the event
    # loop: no thread hops, see service/bridge.py) or "threads" (on the
    # WSGI_THREADS pool, for synchronous code that does blocking I/O).
    wsgi_mode: str = "loop"
    # hypercorn's worker class: "asyncio" (the standard library's loop) or
    # "uvloop". Both serve the same requests per second here, but the
    # standard loop accepts every waiting connection at once where uvloop
    # accepts one per turn of its loop: under load, a burst of new
    # connections waited seconds behind the open ones (README, the tail).
    worker_class: str = "asyncio"
    # Where prometheus_client's multiprocess mode keeps each worker's values;
    # config/hypercorn.py sets it up when WORKERS > 1 (empty: one process).
    prometheus_multiproc_dir: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from environment variables named like the fields."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(f.name.upper())
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(f.name, type(getattr(cls(), f.name)), raw)
        return cls(**values).validated()

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed, validated again."""
        return replace(self, **changes).validated()

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def worker_count(self) -> int:
        """WORKERS, where 0 means one per CPU core this process may run on."""
        return self.workers or len(os.sched_getaffinity(0))

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgresql")

    def validated(self) -> Settings:
        """Check cross-field rules; production refuses a weak or default secret."""
        if self.app_env not in ENVIRONMENTS:
            raise SettingsError(f"APP_ENV must be one of {', '.join(ENVIRONMENTS)}, not {self.app_env!r}")
        if self.is_production and (self.secret_key == DEV_SECRET or len(self.secret_key) < MIN_SECRET_LENGTH):
            raise SettingsError(
                f"SECRET_KEY must be set to a random string of at least {MIN_SECRET_LENGTH} "
                "characters when APP_ENV=production "
                '(e.g. python -c "import secrets; print(secrets.token_urlsafe(48))")'
            )
        if self.wsgi_mode not in ("loop", "threads"):
            raise SettingsError(f"WSGI_MODE must be 'loop' or 'threads', not {self.wsgi_mode!r}")
        if self.worker_class not in ("uvloop", "asyncio"):
            raise SettingsError(f"WORKER_CLASS must be 'uvloop' or 'asyncio', not {self.worker_class!r}")
        if not 4 <= self.bcrypt_rounds <= 31:
            raise SettingsError("BCRYPT_ROUNDS must be between 4 and 31")
        if self.workers < 0:
            raise SettingsError("WORKERS must be 0 (one per CPU core) or more")
        for name in ("port", "wsgi_threads", "bcrypt_threads", "redis_max_connections"):
            if getattr(self, name) < 1:
                raise SettingsError(f"{name.upper()} must be at least 1")
        for name in (
            "access_token_ttl",
            "refresh_token_ttl",
            "max_body_bytes",
            "login_window",
            "login_max_per_account",
            "login_max_per_ip",
            "max_sessions_per_user",
        ):
            if getattr(self, name) < 1:
                raise SettingsError(f"{name.upper()} must be a positive number")
        for name in ("db_pool_size", "db_pool_timeout", "db_connect_timeout"):
            if getattr(self, name) <= 0:
                raise SettingsError(f"{name.upper()} must be a positive number")
        if is_sentinel_url(self.redis_url):
            try:
                parse_sentinel_url(self.redis_url)
            except ValueError as error:
                raise SettingsError(f"REDIS_URL: {error}") from None
        if self.redis_replica_acks < 0 or self.redis_replica_timeout <= 0:
            raise SettingsError("REDIS_REPLICA_ACKS must be 0 or more, REDIS_REPLICA_TIMEOUT positive")
        if self.session_seen_interval < 0:
            raise SettingsError("SESSION_SEEN_INTERVAL must be 0 or more")
        if self.trusted_proxies < 0:
            raise SettingsError("TRUSTED_PROXIES must be 0 or more")
        if self.db_max_overflow < 0 or self.db_statement_timeout < 0:
            raise SettingsError("DB_MAX_OVERFLOW and DB_STATEMENT_TIMEOUT must not be negative")
        if self.access_token_ttl > self.refresh_token_ttl:
            raise SettingsError("ACCESS_TOKEN_TTL must not exceed REFRESH_TOKEN_TTL")
        return self


def _parse(name: str, kind: type, raw: str) -> Any:
    try:
        if kind is bool:
            lowered = raw.strip().lower()
            if lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError(raw)
            return lowered in ("1", "true", "yes", "on")
        return kind(raw)
    except ValueError:
        raise SettingsError(f"{name.upper()} must be a {kind.__name__}, not {raw!r}") from None


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
