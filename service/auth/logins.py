"""Bearer logins and the caller's login sessions: log in, refresh, log out, list, end one."""

from __future__ import annotations

from datetime import datetime

from config.settings import Settings
from service.auth.credentials import check_credentials
from service.auth.events import records as events
from service.auth.mfa import login as mfa_login
from service.auth.mfa.schemas import MfaChallenge, MfaLogin
from service.auth.password_epochs import PasswordEpoch
from service.auth.schemas import Credentials, SessionPublic, TokenPair
from service.auth.sessions import (
    ClientInfo,
    Principal,
    Rotation,
    end_session,
    end_sessions,
    list_sessions,
    rotate_refresh,
    start_session,
)
from service.auth.tokens.jwts import (
    Claims,
    TokenType,
    decode_token,
    is_session_id,
    issue_token,
    new_session_id,
    successor_id,
)
from service.errors import NotFound, Unauthorized
from service.serving.runtime import Runtime
from service.users import accounts
from service.users.keys import Account


async def log_in(rt: Runtime, form: Credentials, client: ClientInfo) -> TokenPair | MfaChallenge:
    """Check credentials and open a bearer login session, or ask for the second factor first."""
    account, epoch = await check_credentials(rt, form, client)
    challenged = await mfa_login.challenge(rt, account, epoch, form.username, "bearer")
    return challenged or await _open(rt, account, epoch, client)


async def log_in_mfa(rt: Runtime, form: MfaLogin, client: ClientInfo) -> TokenPair:
    """The second step of a bearer login: the ``mfa_token`` and a code open the session."""
    account, epoch = await mfa_login.redeem(rt, form, client, "bearer")
    return await _open(rt, account, epoch, client)


async def _open(rt: Runtime, account: Account, epoch: PasswordEpoch, client: ClientInfo) -> TokenPair:
    settings = rt.settings
    session_id = new_session_id()
    access, _ = _issue(settings, account, session_id, "access")
    refresh_token, claims = _issue(settings, account, session_id, "refresh")
    # Committed before the session exists: no login without its event (see events).
    await events.record_alone(rt.db, account, "login", client, session_id=session_id)
    await start_session(
        rt.redis,
        session_id=session_id,
        account=account,
        ttl=settings.refresh_token_ttl,
        limit=settings.max_sessions_per_user,
        client=client,
        epoch=epoch,
        refresh_id=claims.token_id,
    )
    return TokenPair(access_token=access, refresh_token=refresh_token, expires_in=settings.access_token_ttl)


async def refresh(rt: Runtime, refresh_token: str, client: ClientInfo) -> TokenPair:
    """Spend a refresh token for a new pair; a spent one revokes its whole session.

    The same client presenting it again within REFRESH_REUSE_GRACE gets the
    identical pair: its ids derive from the spent token's, its issue time is
    the first use's, and both algorithms sign deterministically.
    """
    settings = rt.settings
    claims = decode_token(settings, refresh_token, token_type="refresh")
    # Redis alone cannot tell an account from an earlier one with the same id
    # whose session outlived its database (a restored backup): ask the database.
    await accounts.require(rt, claims.account)
    refresh_id = successor_id(claims.token_id, "refresh")
    outcome, issued_at = await rotate_refresh(
        rt.redis,
        claims,
        new_refresh_id=refresh_id,
        ttl=settings.refresh_token_ttl,
        client=client,
        grace=settings.refresh_reuse_grace,
    )
    if outcome == Rotation.REUSED:
        # The session is already revoked (in the same script that saw the reuse).
        await events.record_alone(rt.db, claims.account, "refresh_reuse", session_id=claims.session_id)
        raise Unauthorized("The refresh token was already used; the session has been revoked.")
    if outcome not in (Rotation.ROTATED, Rotation.REISSUED):
        raise Unauthorized("The token has been revoked.")
    account, sid = claims.account, claims.session_id
    new_refresh, _ = issue_token(
        settings, account=account, session_id=sid, token_type="refresh", now=issued_at, token_id=refresh_id
    )
    access_id = successor_id(claims.token_id, "access")
    access, _ = issue_token(
        settings, account=account, session_id=sid, token_type="access", now=issued_at, token_id=access_id
    )
    return TokenPair(access_token=access, refresh_token=new_refresh, expires_in=settings.access_token_ttl)


def _issue(
    settings: Settings, account: Account, session_id: str, token_type: TokenType
) -> tuple[str, Claims]:
    return issue_token(settings, account=account, session_id=session_id, token_type=token_type)


async def log_out(rt: Runtime, caller: Principal, client: ClientInfo) -> None:
    """End the caller's login session: its tokens stop working everywhere."""
    await end_session(rt.redis, account=caller.account, session_id=caller.session_id)
    await events.record_alone(rt.db, caller.account, "logout", client, session_id=caller.session_id)


async def log_out_everywhere(rt: Runtime, caller: Principal, client: ClientInfo) -> None:
    """End every login session of the caller, this one included."""
    await end_sessions(rt.redis, account=caller.account)
    await events.record_alone(rt.db, caller.account, "logout_all", client, session_id=caller.session_id)


async def sessions_of(rt: Runtime, caller: Principal) -> list[SessionPublic]:
    """The caller's live login sessions, the current one marked."""
    records = await list_sessions(rt.redis, caller.account)
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


async def end_session_of(rt: Runtime, caller: Principal, session_id: str, client: ClientInfo) -> None:
    """End one of the caller's login sessions; 404 for an unknown id or another user's."""
    ended = is_session_id(session_id) and await end_session(
        rt.redis, account=caller.account, session_id=session_id
    )
    if not ended:
        raise NotFound("No such session.")
    await events.record_alone(rt.db, caller.account, "session_revoked", client, session_id=session_id)
