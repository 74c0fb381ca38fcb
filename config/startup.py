"""Checks the master runs before it starts any worker: the listening address and the database.

A failed check is one line on stderr naming the setting and the fix, and exit
status 2, as for an invalid setting; without them a busy port or an
unreachable database surfaced as a traceback from every worker.
"""

from __future__ import annotations

import asyncio
import errno
import importlib.util
import socket

from config.settings import Settings

DRIVERS = {"sqlite+aiosqlite": "aiosqlite", "postgresql+asyncpg": "asyncpg"}


class StartupError(Exception):
    """The service cannot start as configured; the message says which setting to change."""


def check_startup(settings: Settings) -> None:
    """Run every check; ``StartupError`` names the first that fails."""
    check_listen_address(settings.host, settings.port)
    check_database(settings)
    check_mail_relay(settings)
    check_signing_keys(settings)
    check_mfa_keys(settings)


def check_mail_relay(settings: Settings) -> None:
    """Production mails through SMTP_URL: without it, reset mails would go nowhere."""
    if settings.is_production and not settings.smtp_url:
        raise StartupError(
            "SMTP_URL is required in production: set it to smtp://[user:pass@]host:port (or smtps://…)"
        )


def check_signing_keys(settings: Settings) -> None:
    """SIGNING_KEYS names readable keys of one algorithm (in development, a generated one)."""
    from service.auth.tokens.jwts import signer_for
    from service.auth.tokens.signing_keys import SigningKeyError

    try:
        signer_for(settings)
    except SigningKeyError as error:
        raise StartupError(str(error)) from None


def check_listen_address(host: str, port: int) -> None:
    """Bind ``host:port`` once, as a worker will (SO_REUSEADDR, no SO_REUSEPORT: a squatter shows)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except socket.gaierror:
            raise StartupError(
                f"HOST {host!r} is not an address or name of this machine: "
                "set HOST to 127.0.0.1, 0.0.0.0 or one of its addresses"
            ) from None
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise StartupError(
                    f"PORT {port} on {host} is already in use (another server?): "
                    "stop that one or set PORT to a free port"
                ) from None
            if error.errno == errno.EACCES:
                raise StartupError(f"PORT {port} needs root privileges: set PORT to 1024 or above") from None
            if error.errno == errno.EADDRNOTAVAIL:
                raise StartupError(
                    f"HOST {host} is not an address of this machine: "
                    "set HOST to 127.0.0.1, 0.0.0.0 or one of its addresses"
                ) from None
            raise StartupError(f"HOST {host} and PORT {port} cannot be bound: {error.strerror}") from None


def check_mfa_keys(settings: Settings) -> None:
    """MFA_ENCRYPTION_KEYS: set in production, each entry a Fernet key (the second factor)."""
    from service.auth.mfa.keys import MfaKeyError, load_mfa_cipher

    try:
        load_mfa_cipher(settings)
    except MfaKeyError as error:
        raise StartupError(str(error)) from None


def check_database(settings: Settings) -> None:
    """DATABASE_URL's form and driver; for PostgreSQL, one connection within DB_CONNECT_TIMEOUT.

    SQLite is not opened here: the service starts (and answers 503) while its
    file cannot be opened, as it does while PostgreSQL goes away later.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(settings.database_url)
    except (ArgumentError, ValueError):
        raise StartupError(
            "DATABASE_URL is not a database URL: expected e.g. sqlite+aiosqlite:///var/service.db or "
            "postgresql+asyncpg://user:password@host:5432/database"
        ) from None
    module = DRIVERS.get(url.drivername)
    if module is None or importlib.util.find_spec(module) is None:
        raise StartupError(
            f"DATABASE_URL names the driver {url.drivername!r}, which is not installed: use "
            f"{' or '.join(DRIVERS)} (pip install -r requirements.txt)"
        )
    if url.drivername.startswith("postgresql"):
        _connect_postgres(settings)


def _connect_postgres(settings: Settings) -> None:
    from sqlalchemy.engine import make_url

    url = make_url(settings.database_url)
    where = f"{url.host or 'localhost'}:{url.port or 5432}"
    timeout = settings.db_connect_timeout
    try:
        asyncio.run(asyncio.wait_for(_connect_once(settings.database_url, timeout), timeout + 1))
    except Exception as error:  # every failure becomes the one line below
        reason = _reason(error, where, url.database, timeout)
        if url.password:
            reason = reason.replace(url.password, "***")
        raise StartupError(f"DATABASE_URL: {reason}") from None


async def _connect_once(database_url: str, seconds: float) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    engine = create_async_engine(database_url, poolclass=NullPool, connect_args={"timeout": seconds})
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    finally:
        await engine.dispose()


def _reason(error: BaseException, where: str, database: str | None, timeout: float) -> str:
    """What went wrong connecting to PostgreSQL, and what to change."""
    import asyncpg

    for cause in _chain(error):
        if isinstance(cause, asyncpg.InvalidCatalogNameError):
            return (
                f"the database {database!r} does not exist on {where}: create it (createdb), or fix the name"
            )
        if isinstance(cause, asyncpg.InvalidPasswordError):
            return f"PostgreSQL on {where} refused the password ({cause}): fix the password"
        if isinstance(cause, asyncpg.InvalidAuthorizationSpecificationError):
            return f"PostgreSQL on {where} refused the login ({cause}): fix the user name, or create the role"
        if isinstance(cause, asyncpg.PostgresError):
            return f"PostgreSQL on {where} refused the connection ({cause})"
        if isinstance(cause, ConnectionRefusedError):
            return f"nothing listens on {where}: start PostgreSQL, or fix the host and port"
        if isinstance(cause, socket.gaierror):
            return f"the host in {where} is not known: fix the host name"
        if isinstance(cause, TimeoutError):
            return (
                f"no answer from {where} within {timeout:g} s: "
                f"check the host and port, or raise DB_CONNECT_TIMEOUT"
            )
        if isinstance(cause, OSError) and cause.strerror:
            return f"cannot reach {where}: {cause.strerror}"
    # An unforeseen error: its first line (the caller masks the password).
    first = (str(error).splitlines() or [type(error).__name__])[0]
    return f"cannot connect to {where}: {first}"


def _chain(error: BaseException) -> list[BaseException]:
    """The error and those it was raised from or during, innermost last."""
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__ or getattr(current, "orig", None)
    return seen
