"""Operator commands, ``python -m service <command>``: accounts, sessions and login limits.

Each command builds the settings from the environment as the server does,
opens the pools of a ``Runtime``, acts through the domain functions the API
uses, and closes the pools. Exit status: 0 done, 1 refused (unknown user,
invalid or taken name), 2 usage or configuration, 3 Redis or the database
unavailable. Passwords are read from a prompt or stdin, never from argv,
where other users of the machine could read them.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import NoReturn, TypeVar

import click
from pydantic import ValidationError
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from config.setting_errors import SettingsError
from config.settings import Settings, load_settings
from service.auth import limits
from service.auth.events import records as events
from service.auth.sessions import SessionRecord, end_sessions, list_sessions
from service.auth.tokens import personal as personal_tokens
from service.errors import NotFound, ServiceError
from service.logs import configure_process_logging
from service.serving.runtime import Runtime
from service.users import accounts, repository
from service.users.keys import Account
from service.users.schemas import UserCreate, could_be_username

T = TypeVar("T")
REFUSED, USAGE, UNAVAILABLE = 1, 2, 3


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Operator commands for the service; settings come from the environment, as for the server."""


@cli.command("create-user")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
def create_user(username: str, password_stdin: bool) -> None:
    """Create an account (the password is prompted for, or read from stdin)."""
    password = _read_password(password_stdin)

    async def act(rt: Runtime) -> str:
        user = await accounts.register(rt, UserCreate(username=username, password=password))
        return f"created user {user.username!r} (id {user.id})"

    click.echo(_run(act))


@cli.command("end-sessions")
@click.argument("username")
def end_user_sessions(username: str) -> None:
    """End every login session and personal access token of a user: all stop working at once."""

    async def act(rt: Runtime) -> str:
        account = await _account(rt, username)
        ended = await end_sessions(rt.redis, account=account)
        revoked = await personal_tokens.revoke_all_tokens(rt, account)
        return (
            f"ended {ended} session{'s' * (ended != 1)} and revoked {revoked} "
            f"personal access token{'s' * (revoked != 1)} of {username!r}"
        )

    click.echo(_run(act))


@cli.command("sessions")
@click.argument("username")
@click.option("--json", "as_json", is_flag=True, help="One JSON array instead of a table.")
def show_sessions(username: str, as_json: bool) -> None:
    """Show a user's live login sessions, oldest first."""

    async def act(rt: Runtime) -> list[SessionRecord]:
        return await list_sessions(rt.redis, await _account(rt, username))

    records = _run(act)
    if as_json:
        click.echo(json.dumps([asdict(record) for record in records], indent=2))
        return
    if not records:
        click.echo(f"{username!r} has no live sessions")
        return
    rows = [("ID", "CREATED", "LAST SEEN", "ADDRESS", "USER AGENT")]
    rows += [(r.id, r.created_at, r.last_seen_at, r.ip, r.user_agent) for r in records]
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    for row in rows:
        click.echo(
            "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[4]])
        )


@cli.command("prune-events")
@click.option(
    "--days", type=click.IntRange(min=1), help="Keep this many days (default EVENT_RETENTION_DAYS)."
)
def prune_events(days: int | None) -> None:
    """Delete security events older than the retention period (the worker also does this hourly)."""

    async def act(rt: Runtime) -> int:
        return await events.prune(rt.db, days or rt.settings.event_retention_days)

    deleted = _run(act)
    click.echo(f"deleted {deleted} security event{'s' * (deleted != 1)}")


@cli.command("clear-limits")
@click.option("--user", "usernames", multiple=True, metavar="USERNAME", help="An account's login limit.")
@click.option("--ip", "addresses", multiple=True, metavar="ADDRESS", help="A client address's login limit.")
def clear_limits(usernames: tuple[str, ...], addresses: tuple[str, ...]) -> None:
    """Clear the failed-login counters of accounts or client addresses (their keys are hashes)."""
    if not usernames and not addresses:
        raise click.UsageError("name at least one --user or --ip")
    keys = [limits.username_counter_key(name) for name in usernames]
    for address in addresses:
        try:
            # The service counts by the address as it prints it (compressed IPv6).
            keys.append(limits.address_counter_key(str(ipaddress.ip_address(address))))
        except ValueError:
            raise click.BadParameter(f"{address!r} is not an IP address", param_hint="--ip") from None

    async def act(rt: Runtime) -> int:
        return int(await rt.redis.delete(*keys))

    cleared = _run(act)
    names = [f"user {name!r}" for name in usernames] + [f"address {a}" for a in addresses]
    click.echo(
        f"cleared the login limits of {', '.join(names)} ({cleared} counter{'s' * (cleared != 1)} were set)"
    )


async def _account(rt: Runtime, username: str) -> Account:
    """The user's account; 1 with a message when there is no such user."""
    found = await repository.find_login(rt.db, username) if could_be_username(username) else None
    if found is None:
        raise NotFound(f"no user named {username!r}")
    account, _ = found
    return account


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
        if not password:
            _fail("no password on stdin", USAGE)
        return password
    if not sys.stdin.isatty():
        _fail("no terminal to prompt for the password: pipe it in with --password-stdin", USAGE)
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def _run(action: Callable[[Runtime], Awaitable[T]]) -> T:
    """Open the pools, run ``action``, close them; a failure is one line on stderr and an exit status."""
    settings = _settings()

    async def main() -> T:
        runtime = Runtime(settings)
        await runtime.open()
        try:
            return await action(runtime)
        finally:
            await runtime.close()

    try:
        return asyncio.run(main())
    except ServiceError as error:
        _fail(error.detail or type(error).__name__, REFUSED)
    except ValidationError as error:
        _fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()), REFUSED)
    except RedisError as error:
        _fail(f"Redis is unavailable ({type(error).__name__})", UNAVAILABLE)
    except (OperationalError, InterfaceError, PoolTimeout, DBAPIError) as error:
        cause = getattr(error, "orig", None) or error
        reason = (str(cause).splitlines() or [type(cause).__name__])[0][:200]
        _fail(f"the database failed: {reason}", UNAVAILABLE)


@cli.group()
def keys() -> None:
    """Signing keys: rotation without logging anyone out (docs/deployment.md)."""


@keys.command("generate")
@click.option("--dir", "key_dir", default="var/keys", show_default=True, help="Where to write the new key.")
@click.option("--algorithm", type=click.Choice(["EdDSA", "ES256"]), help="Default: that of the current keys.")
@click.option(
    "--current",
    envvar="SIGNING_KEYS",
    default="",
    help="The SIGNING_KEYS in use (default: the environment's); the new key goes first.",
)
def generate_key(key_dir: str, algorithm: str | None, current: str) -> None:
    """Write a new private key (mode 0600) and print the SIGNING_KEYS that puts it first (the last line)."""
    from pathlib import Path

    from service.auth.tokens.key_rotation import generate_signing_key
    from service.auth.tokens.signing_keys import SigningKeyError

    directory = Path(key_dir)
    directory.mkdir(parents=True, exist_ok=True)
    try:
        value = generate_signing_key(directory, current=current, algorithm=algorithm)  # type: ignore[arg-type]
    except SigningKeyError as error:
        _fail(str(error), USAGE)
    new, *old = value.split(",")
    if old:
        # Publish before signing: an instance still on the old list would
        # refuse tokens of a key it does not know yet.
        click.echo("# 1. on every instance, verify and publish the new key (then wait the JWKS max-age):")
        click.echo(f"SIGNING_KEYS={','.join([*old, new])}")
        click.echo("# 2. then sign with it; drop the old keys after REFRESH_TOKEN_TTL:")
    click.echo(f"SIGNING_KEYS={value}")


def _settings() -> Settings:
    try:
        settings = load_settings()
    except SettingsError as error:
        _fail(f"configuration error: {error}", USAGE)
    configure_process_logging(settings.log_level)  # library warnings on stderr as JSON, as from the server
    return settings


def _fail(message: str, status: int) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(status)
