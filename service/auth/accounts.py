"""The account flows behind the auth resources: register, log in, log out."""

from __future__ import annotations

from service.auth.schemas import Credentials, TokenPair, UserCreate
from service.auth.sessions import end_session, start_session
from service.auth.tokens import issue_token
from service.errors import Unauthorized
from service.runtime import Runtime
from service.users import repository
from service.users.models import User


async def register(rt: Runtime, form: UserCreate) -> User:
    """Create an account; the password is stored only as a bcrypt hash."""
    password_hash = await rt.passwords.hash(form.password)
    return await repository.create_user(rt.db, username=form.username, password_hash=password_hash)


async def log_in(rt: Runtime, form: Credentials) -> TokenPair:
    """Check credentials and open a session; one answer for every kind of failure."""
    found = await repository.find_login(rt.db, form.username)
    user_id, password_hash = found if found is not None else (None, None)
    if not await rt.passwords.verify(form.password, password_hash) or user_id is None:
        raise Unauthorized("Invalid username or password.")
    settings = rt.settings
    session_id = await start_session(rt.redis, user_id=user_id, ttl=settings.refresh_token_ttl)
    access, _ = issue_token(settings, user_id=user_id, session_id=session_id, token_type="access")
    refresh, _ = issue_token(settings, user_id=user_id, session_id=session_id, token_type="refresh")
    return TokenPair(access_token=access, refresh_token=refresh, expires_in=settings.access_token_ttl)


async def log_out(rt: Runtime, session_id: str) -> None:
    """End the session: its access and refresh tokens stop working everywhere."""
    await end_session(rt.redis, session_id)
