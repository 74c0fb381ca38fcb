"""Logging in and out with a cookie, for browsers; the CSRF token that goes with it.

The cookie data (see ``cookie_store``) holds the account (``uid`` and its
account key ``ak``), the login session's id ``sid`` and the CSRF token. The
login session is the same Redis record a bearer login gets, so listing,
logging out everywhere and the per-request check treat both kinds alike.
"""

from __future__ import annotations

import secrets

from flask import current_app
from flask import session as cookie_data

from service.auth.credentials import check_credentials
from service.auth.events import records as events
from service.auth.mfa import login as mfa_login
from service.auth.mfa.schemas import MfaChallenge, MfaLogin
from service.auth.password_epochs import PasswordEpoch
from service.auth.schemas import Credentials, CsrfToken
from service.auth.sessions import ClientInfo, Principal, end_session, start_session
from service.auth.tokens.jwts import is_session_id, new_session_id
from service.serving.runtime import Runtime
from service.users.keys import Account, is_account_key


def cookie_principal() -> tuple[Principal, str] | None:
    """The principal this request's cookie data names and its CSRF token, if well formed.

    Not yet checked against Redis: the guard does that.
    """
    user_id, account_key = cookie_data.get("uid"), cookie_data.get("ak")
    session_id, csrf = cookie_data.get("sid"), cookie_data.get("csrf")
    # bool is an int to Python; no account has the id True.
    if type(user_id) is not int or not is_account_key(account_key) or not is_session_id(session_id):
        return None
    if not (isinstance(csrf, str) and csrf.isascii()):  # as drawn; compared as bytes by the guard
        return None
    return Principal(Account(user_id, account_key), session_id), csrf


async def log_in_cookie(rt: Runtime, form: Credentials, client: ClientInfo) -> CsrfToken | MfaChallenge:
    """Check credentials and turn this request's cookie data into a fresh login (or ask for the code)."""
    account, epoch = await check_credentials(rt, form, client)
    challenged = await mfa_login.challenge(rt, account, epoch, form.username, "cookie")
    return challenged or await _open(rt, account, epoch, client)


async def log_in_cookie_mfa(rt: Runtime, form: MfaLogin, client: ClientInfo) -> CsrfToken:
    """The second step of a cookie login: the ``mfa_token`` and a code set the cookie."""
    account, epoch = await mfa_login.redeem(rt, form, client, "cookie")
    return await _open(rt, account, epoch, client)


async def _open(rt: Runtime, account: Account, epoch: PasswordEpoch, client: ClientInfo) -> CsrfToken:
    previous = cookie_principal()
    if previous is not None:
        # Logging in again replaces the cookie's previous login.
        caller, _ = previous
        await end_session(rt.redis, account=caller.account, session_id=caller.session_id)
    csrf, session_id = secrets.token_urlsafe(32), new_session_id()
    cookie_data.clear()
    cookie_data.update(uid=account.user_id, ak=account.account_key, sid=session_id, csrf=csrf)
    # Only now: Flask-Session's regenerate does nothing to an empty record,
    # and a new id is what keeps a planted cookie id from being logged in.
    store = current_app.session_interface
    store.regenerate(cookie_data)  # type: ignore[attr-defined]
    # Committed before the session exists: no login without its event (see events).
    await events.record_alone(rt.db, account, "login", client, session_id=session_id)
    await start_session(
        rt.redis,
        session_id=session_id,
        account=account,
        ttl=rt.settings.refresh_token_ttl,
        limit=rt.settings.max_sessions_per_user,
        client=client,
        epoch=epoch,
        cookie_record_key=store.record_key(cookie_data.sid),  # type: ignore[attr-defined]
    )
    return CsrfToken(csrf_token=csrf)


async def log_out_cookie(rt: Runtime, caller: Principal, client: ClientInfo) -> None:
    """End the login and delete the cookie record; the cookie is expired."""
    await end_session(rt.redis, account=caller.account, session_id=caller.session_id)
    cookie_data.clear()
    await events.record_alone(rt.db, caller.account, "logout", client, session_id=caller.session_id)
