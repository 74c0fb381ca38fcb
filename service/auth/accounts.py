"""The account flows behind the auth resources: register, log in, refresh, log out, passwords."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from config.settings import Settings
from service.auth import limits
from service.auth.password_epochs import PasswordEpoch, bump_epoch, read_epoch
from service.auth.schemas import (
    Credentials,
    PasswordChange,
    SessionPublic,
    TokenPair,
    UserCreate,
    could_be_username,
)
from service.auth.sessions import (
    ClientInfo,
    Principal,
    Rotation,
    end_session,
    end_sessions,
    is_session_id,
    list_sessions,
    rotate_refresh,
    start_session,
)
from service.auth.tokens import Claims, TokenType, decode_token, issue_token, new_id
from service.errors import Forbidden, NotFound, Unauthorized, ValidationFailed
from service.serving.runtime import Runtime
from service.users import repository
from service.users.keys import NamesAccount
from service.users.models import User


@dataclass(frozen=True)
class Identity(NamesAccount):
    """The account a login proved: its id and its (never shown) account key."""

    user_id: int
    account_key: str


async def register(rt: Runtime, form: UserCreate) -> User:
    """Create an account; the password is stored only as a bcrypt hash."""
    password_hash = await rt.passwords.hash(form.password)
    return await repository.create_user(rt.db, username=form.username, password_hash=password_hash)


async def check_credentials(
    rt: Runtime, form: Credentials, client: ClientInfo
) -> tuple[Identity, PasswordEpoch]:
    """The account the credentials prove and the password epoch they were checked in.

    One 401 for every kind of failure; 429 when over the limit.
    """
    await limits.count_attempt(rt.redis, rt.settings, username=form.username, ip=client.ip)
    epoch = await read_epoch(rt.redis, form.username)  # before the hash: see password_epochs
    # A name no account can have is not looked up: PostgreSQL refuses a NUL in
    # text outright (a 500), and the answer is "unknown user" either way.
    found = await repository.find_login(rt.db, form.username) if could_be_username(form.username) else None
    user_id, password_hash, account_key = found if found is not None else (None, None, None)
    if not await rt.passwords.verify(form.password, password_hash) or user_id is None or account_key is None:
        raise Unauthorized("Invalid username or password.")
    await limits.refund_attempt(rt.redis, username=form.username, ip=client.ip)
    return Identity(user_id, account_key), epoch


async def log_in(rt: Runtime, form: Credentials, client: ClientInfo) -> TokenPair:
    """Check credentials and open a bearer session."""
    account, epoch = await check_credentials(rt, form, client)
    settings = rt.settings
    session_id = new_id()
    access, _ = _issue(settings, account, session_id, "access")
    refresh, claims = _issue(settings, account, session_id, "refresh")
    await start_session(
        rt.redis,
        session_id=session_id,
        owner=account.owner,
        ttl=settings.refresh_token_ttl,
        limit=settings.max_sessions_per_user,
        client=client,
        epoch=epoch,
        refresh_id=claims.token_id,
    )
    return TokenPair(access_token=access, refresh_token=refresh, expires_in=settings.access_token_ttl)


async def refresh(rt: Runtime, refresh_token: str) -> TokenPair:
    """Spend a refresh token for a new pair; a spent one revokes its whole session."""
    settings = rt.settings
    claims = decode_token(settings, refresh_token, token_type="refresh")
    # Redis alone cannot tell an account from an earlier one with the same id
    # whose session outlived its database (a restored backup): ask the database.
    if await repository.get_user(rt.db, claims.user_id, claims.account_key) is None:
        raise Unauthorized("The account no longer exists.")
    account = Identity(claims.user_id, claims.account_key)
    refresh, new = _issue(settings, account, claims.session_id, "refresh")
    outcome = await rotate_refresh(
        rt.redis, claims, new_refresh_id=new.token_id, ttl=settings.refresh_token_ttl
    )
    if outcome == Rotation.REUSED:
        raise Unauthorized("The refresh token was already used; the session has been revoked.")
    if outcome != Rotation.ROTATED:
        raise Unauthorized("The token has been revoked.")
    access, _ = _issue(settings, account, claims.session_id, "access")
    return TokenPair(access_token=access, refresh_token=refresh, expires_in=settings.access_token_ttl)


def _issue(
    settings: Settings, account: Identity, session_id: str, token_type: TokenType
) -> tuple[str, Claims]:
    return issue_token(
        settings,
        user_id=account.user_id,
        account_key=account.account_key,
        session_id=session_id,
        token_type=token_type,
    )


async def log_out(rt: Runtime, caller: Principal) -> None:
    """End the caller's session: its tokens stop working everywhere."""
    await end_session(rt.redis, owner=caller.owner, session_id=caller.session_id)


async def log_out_everywhere(rt: Runtime, caller: Principal) -> None:
    """End every session of the caller, this one included."""
    await end_sessions(rt.redis, owner=caller.owner)


async def sessions_of(rt: Runtime, caller: Principal) -> list[SessionPublic]:
    """The caller's live sessions, the current one marked."""
    records = await list_sessions(rt.redis, caller.owner)
    return [
        SessionPublic(
            id=r.id,
            created_at=datetime.fromisoformat(r.created_at),
            last_seen_at=datetime.fromisoformat(r.last_seen_at),
            user_agent=r.user_agent,
            ip=r.ip,
            current=r.id == caller.session_id,
        )
        for r in records
    ]


async def end_session_of(rt: Runtime, caller: Principal, session_id: str) -> None:
    """End one of the caller's sessions; 404 for an unknown id or another user's."""
    ended = is_session_id(session_id) and await end_session(
        rt.redis, owner=caller.owner, session_id=session_id
    )
    if not ended:
        raise NotFound("No such session.")


async def change_password(rt: Runtime, caller: Principal, form: PasswordChange, client: ClientInfo) -> None:
    """Set a new password after checking the current one; every other session is revoked."""
    account = await repository.find_password(rt.db, caller.user_id, caller.account_key)
    if account is None:
        raise Unauthorized("The account no longer exists.")
    username, password_hash = account
    # A stolen access token must not become an unlimited password oracle.
    await limits.count_attempt(rt.redis, rt.settings, username=username, ip=client.ip)
    if not await rt.passwords.verify(form.current_password, password_hash):
        raise Forbidden("The current password is wrong.")
    await limits.refund_attempt(rt.redis, username=username, ip=client.ip)
    if form.new_password.lower() == username.lower():
        message = "must not be the username"
        raise ValidationFailed(
            f"new_password: {message}", errors=[{"field": "new_password", "message": message}]
        )
    new_hash = await rt.passwords.hash(form.new_password)
    if not await repository.set_password_hash(rt.db, caller.user_id, caller.account_key, new_hash):
        raise Unauthorized("The account no longer exists.")
    await bump_epoch(rt.redis, username)  # after the new hash, before ending sessions: see password_epochs
    await end_sessions(rt.redis, owner=caller.owner, keep=caller.session_id)
