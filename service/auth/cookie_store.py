"""Cookie records: Flask-Session on Redis, JSON only, with an id drawn only when needed.

Words used here and in ``cookie_login``: the *cookie* holds only a random
id; the *cookie record* is what Flask-Session keeps in Redis under that id
(``auth:cookie:<id>``); *cookie data* is that record as the request sees it,
Flask's ``session`` proxy. The login itself is a login session like a
bearer login's (``service/auth/sessions.py``).
"""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from typing import Any

import redis
from flask import Flask, Request, Response
from flask_session.base import Serializer, ServerSideSession
from flask_session.defaults import Defaults
from flask_session.redis import RedisSessionInterface
from flask_session.redis.redis import RedisSession

from config.settings import Settings
from service.redis import BridgedRedis

COOKIE_RECORD_PREFIX = "auth:cookie:"


class JsonSerializer(Serializer):
    """JSON objects only.

    Flask-Session's own serializer falls back to msgpack and then to
    ``pickle.loads`` on whatever it reads: a record planted in Redis could
    run code. Here anything that is not a JSON object reads as no record.
    """

    def encode(self, record: ServerSideSession) -> bytes:
        return json.dumps(dict(record), separators=(",", ":")).encode()

    def decode(self, serialized_data: bytes) -> dict[str, Any] | None:
        try:
            data = json.loads(serialized_data)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None
        return data if isinstance(data, dict) else None


class CookieRecord(RedisSession):
    """Flask-Session's record, whose random id is drawn only when first read.

    Most API requests carry no cookie and never save a record: drawing an
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


class CookieRecordStore(RedisSessionInterface):
    """Flask-Session's Redis interface with a JSON serializer and a loop-friendly regenerate."""

    session_class = CookieRecord

    def __init__(self, app: Flask, client: redis.Redis | BridgedRedis) -> None:
        super().__init__(app, client=client, key_prefix=COOKIE_RECORD_PREFIX, serialization_format="json")
        self.serializer = JsonSerializer()

    def record_key(self, sid: str) -> str:
        """The Redis key of the record behind a cookie id."""
        return str(self._get_store_id(sid))

    def open_session(self, app: Flask, request: Request) -> ServerSideSession:
        if "HTTP_COOKIE" not in request.environ:
            return self.session_class(sid=None, permanent=self.permanent)
        return super().open_session(app, request)

    def regenerate(self, record: ServerSideSession) -> None:
        """Give the record a new id; the old one is deleted from Redis when the record is saved.

        Like upstream, an empty record is left alone: fill it first. The
        delete waits for ``save_session``, in Flask's synchronous layer, whose
        Redis client waits through the bridge.
        """
        if record:
            stored = getattr(record, "stored", True)
            record.replaced_sid = record.sid if stored else None
            record.sid = self._generate_sid(self.sid_length)
            record.modified = True

    def save_session(self, app: Flask, record: Any, response: Response) -> None:
        if record is None:
            return  # opening it failed (Redis down): the error response is already being sent
        if not record and not record.modified:
            # Nothing to store or delete (upstream's answer too, without drawing an id).
            if record.accessed:
                response.vary.add("Cookie")
            return
        replaced = getattr(record, "replaced_sid", None)
        if replaced is not None:
            self._delete_session(self.record_key(replaced))
        super().save_session(app, record, response)


def register_cookie_records(app: Flask, settings: Settings, client: redis.Redis | BridgedRedis) -> None:
    """Keep cookie records in Redis through ``client``, with the sync interface Flask-Session needs."""
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
    app.session_interface = CookieRecordStore(app, client)
