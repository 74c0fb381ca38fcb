"""The synchronous reference: the same ``GET /api/v1/users/me`` the way the
original tutorial builds and deploys it, plain sync Flask + Flask-SQLAlchemy +
sync redis under ``gunicorn -w 4``.

It does the same work as the service for that request: verify the JWT (same
keys, same claims), one Redis round trip running the service's own script
that checks the login session is live and the caller's (id and account key)
and marks it seen, load the user by id and account key through the ORM,
answer JSON. Reads the
service's settings (``DATABASE_URL``, ``REDIS_URL``, ``SIGNING_KEYS``) so it
serves the same data; the async driver in the URL is swapped for a sync one.
"""

from __future__ import annotations

from datetime import UTC, datetime

import jwt
import redis
from flask import Flask, jsonify, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import select
from sqlalchemy.orm import Mapped, mapped_column

from config.settings import load_settings_or_exit
from service.auth.session_scripts import TOUCH
from service.auth.sessions import session_key, touch_args
from service.auth.tokens.jwts import REQUIRED_CLAIMS, signer_for
from service.users.keys import Account

settings = load_settings_or_exit()
app = Flask(__name__)
app.config["SQLALCHEMY_DATABASE_URI"] = settings.database_url.replace("+asyncpg", "+psycopg2").replace(
    "+aiosqlite", ""
)
db = SQLAlchemy(app)
signer = signer_for(settings)
store = redis.Redis.from_url(settings.redis_url, decode_responses=True)
# The service's own check: one round trip that verifies the session is the
# caller's and marks it seen.
touch = store.register_script(TOUCH)


class User(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str]
    password_hash: Mapped[str]
    created_at: Mapped[datetime]
    account_key: Mapped[str]


def _unauthorized(detail: str):  # type: ignore[no-untyped-def]
    return jsonify(title="Unauthorized", status=401, detail=detail), 401


@app.get("/api/v1/users/me")
def me():  # type: ignore[no-untyped-def]
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return _unauthorized("no bearer token")
    try:
        # The service's keys, algorithm, issuer and audience (SIGNING_KEYS), verified with PyJWT.
        claims = signer.verify(token, require=REQUIRED_CLAIMS)
    except jwt.InvalidTokenError:
        return _unauthorized("bad token")
    user_id, account_key = int(claims["sub"]), claims["ak"]
    args = touch_args(settings.session_seen_interval)
    if (
        claims["typ"] != "access"
        or touch(keys=[session_key(Account(user_id, account_key), claims["sid"])], args=args) != 1
    ):
        return _unauthorized("revoked")
    # Like the service: the account must be this id with this key, in one query.
    found = select(User).where(User.id == user_id, User.account_key == account_key)
    user = db.session.execute(found).scalar_one_or_none()
    if user is None:
        return _unauthorized("no such user")
    created = user.created_at.replace(tzinfo=UTC) if user.created_at.tzinfo is None else user.created_at
    return jsonify(id=user.id, username=user.username, created_at=created.isoformat())
