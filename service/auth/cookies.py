"""Cookie sessions for browsers: Flask-Session on Redis, JSON only, with a CSRF token.

The cookie holds only a random id; the record (``auth:cookie:<id>``) holds
the user (``uid`` and its account key ``ak``), the login session's id and
the CSRF token. The login session itself is the same Redis record a bearer
login gets, so listing, logging out everywhere and the per-request check
treat both kinds alike.
"""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from typing import Any

import redis
from flask import Flask, Request, Response, current_app, session
from flask_session.base import Serializer, ServerSideSession
from flask_session.defaults import Defaults
from flask_session.redis import RedisSessionInterface
from flask_session.redis.redis import RedisSession

from config.settings import Settings
from service.auth.accounts import check_credentials
from service.auth.schemas import Credentials, CsrfToken
from service.auth.sessions import ClientInfo, Principal, end_session, start_session
from service.auth.tokens import new_id
from service.redis import BridgedRedis
from service.serving.runtime import Runtime
from service.users.keys import is_account_key, owner_of

COOKIE_PREFIX = "auth:cookie:"


class JsonSerializer(Serializer):
    """JSON objects only.

    Flask-Session's own serializer falls back to msgpack and then to
    ``pickle.loads`` on whatever it reads: a record planted in Redis could
    run code. Here anything that is not a JSON object reads as no session.
    """

    def encode(self, session: ServerSideSession) -> bytes:
        return json.dumps(dict(session), separators=(",", ":")).encode()

    def decode(self, serialized_data: bytes) -> dict | None:  # type: ignore[override]
        try:
            data = json.loads(serialized_data)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None
        return data if isinstance(data, dict) else None


class CookieSession(RedisSession):
    """Flask-Session's session, whose random id is drawn only when first read.

    Most API requests carry no cookie and never save a session: drawing an
    id for each (``os.urandom``) and parsing absent cookies cost about 20 µs
    per bearer request.
    """

    _sid: str | None = None

    @property
    def sid(self) -> str:
        if self._sid is None:
            self._sid = secrets.token_urlsafe(Defaults.SESSION_ID_LENGTH)
        return self._sid

    @sid.setter
    def sid(self, value: str | None) -> None:
        self._sid = value

    @property
    def stored(self) -> bool:
        """Whether the id came from a cookie, or was drawn, and may name a record in Redis."""
        return self._sid is not None


class CookieSessionInterface(RedisSessionInterface):
    """Flask-Session's Redis interface with a JSON serializer and a loop-friendly regenerate."""

    session_class = CookieSession

    def __init__(self, app: Flask, client: redis.Redis | BridgedRedis) -> None:
        super().__init__(app, client=client, key_prefix=COOKIE_PREFIX, serialization_format="json")
        self.serializer = JsonSerializer()

    def store_key(self, sid: str) -> str:
        """The Redis key of the record behind a cookie id."""
        return self._get_store_id(sid)

    def open_session(self, app: Flask, request: Request) -> ServerSideSession:
        if "HTTP_COOKIE" not in request.environ:
            return self.session_class(sid=None, permanent=self.permanent)
        return super().open_session(app, request)

    def regenerate(self, session: ServerSideSession) -> None:
        """Give the session a new id; the old record is deleted when the session is saved.

        Like upstream, an empty session is left alone: fill it first. The
        delete waits for ``save_session``, in Flask's synchronous layer, where
        the client may block (a WSGI thread) or wait through the bridge.
        """
        if session:
            stored = getattr(session, "stored", True)
            session.replaced_sid = session.sid if stored else None  # type: ignore[attr-defined]
            session.sid = self._generate_sid(self.sid_length)
            session.modified = True

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        if session is None:
            return  # opening it failed (Redis down): the error response is already being sent
        if not session and not session.modified:
            # Nothing to store or delete (upstream's answer too, without drawing an id).
            if session.accessed:
                response.vary.add("Cookie")
            return
        replaced = getattr(session, "replaced_sid", None)
        if replaced is not None:
            self._delete_session(self.store_key(replaced))
        super().save_session(app, session, response)


def register_cookie_sessions(app: Flask, settings: Settings, client: redis.Redis | BridgedRedis) -> None:
    """Serve cookie sessions from Redis through ``client``, with the sync interface Flask-Session needs."""
    app.config.update(
        SESSION_COOKIE_NAME="session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.app_env != "development",
        # A cookie login lasts as long as a bearer login's refresh token, from
        # login; the record is not rewritten on every request (a round trip).
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=settings.refresh_token_ttl),
        SESSION_REFRESH_EACH_REQUEST=False,
    )
    app.session_interface = CookieSessionInterface(app, client)


async def log_in(rt: Runtime, form: Credentials, client: ClientInfo) -> CsrfToken:
    """Check credentials and turn this request's cookie session into a fresh login."""
    account, epoch = await check_credentials(rt, form, client)
    previous_user, previous_key, previous_session = session.get("uid"), session.get("ak"), session.get("sid")
    if isinstance(previous_user, int) and is_account_key(previous_key) and isinstance(previous_session, str):
        # Logging in again replaces the cookie's previous login.
        previous = owner_of(previous_user, previous_key)
        await end_session(rt.redis, owner=previous, session_id=previous_session)
    csrf, session_id = secrets.token_urlsafe(32), new_id()
    session.clear()
    session.update(uid=account.user_id, ak=account.account_key, sid=session_id, csrf=csrf)
    # Only now: Flask-Session's regenerate does nothing to an empty session,
    # and a new id is what keeps a planted cookie id from being logged in.
    interface: CookieSessionInterface = current_app.session_interface  # type: ignore[assignment]
    interface.regenerate(session)  # type: ignore[arg-type]
    await start_session(
        rt.redis,
        session_id=session_id,
        owner=account.owner,
        ttl=rt.settings.refresh_token_ttl,
        limit=rt.settings.max_sessions_per_user,
        client=client,
        epoch=epoch,
        cookie_key=interface.store_key(session.sid),  # type: ignore[attr-defined]
    )
    return CsrfToken(csrf_token=csrf)


async def log_out(rt: Runtime, caller: Principal) -> None:
    """End the login and delete the cookie's server-side record; the cookie is expired."""
    await end_session(rt.redis, owner=caller.owner, session_id=caller.session_id)
    session.clear()
