"""The synchronous reference: ``GET /api/v1/users/me`` as the Flask tutorial builds and deploys it.

Flask + Flask-RESTful + Flask-SQLAlchemy (its ORM, ``db.session.get``) +
sync redis + PyJWT, served by ``gunicorn -w 4``. The same work as the
service's request: verify the bearer token the service issued (its public
key, algorithm, issuer and audience), one Redis round trip (the session's
key exists), one SELECT of the user by primary key (its account key compared
in Python), JSON out. It imports nothing from the service.
"""

from __future__ import annotations

import os
from typing import Any

import redis
from flask import Flask, request
from flask_restful import Api, Resource, abort
from flask_sqlalchemy import SQLAlchemy

from bench.reference import SESSION_PREFIX, TokenVerifier, aware, sync_url

app = Flask(__name__)
app.config["SQLALCHEMY_DATABASE_URI"] = sync_url(os.environ["DATABASE_URL"])
db = SQLAlchemy(app)
api = Api(app)
store = redis.Redis.from_url(os.environ["REDIS_URL"])
tokens = TokenVerifier()


class User(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "users"
    id = db.Column(db.Integer, primary_key=True)
    username = db.Column(db.String(32))
    created_at = db.Column(db.DateTime)
    account_key = db.Column(db.String(32))
    email = db.Column(db.String(254))
    email_verified = db.Column(db.Boolean)


def current_claims() -> dict[str, Any]:
    """The caller's verified claims, with its session live in Redis; 401 otherwise."""
    claims = tokens.claims(request.headers.get("Authorization"))
    if claims is None or not store.exists(SESSION_PREFIX + claims["sid"]):
        abort(401, message="not logged in")
    assert claims is not None  # abort raised otherwise
    return claims


class Me(Resource):
    def get(self) -> dict[str, Any]:
        claims = current_claims()
        user = db.session.get(User, int(claims["sub"]))
        if user is None or user.account_key != claims.get("ak"):
            abort(401, message="no such account")
        return {
            "id": user.id,
            "username": user.username,
            "created_at": aware(user.created_at),
            "email": user.email,
            "email_verified": user.email_verified,
        }


api.add_resource(Me, "/api/v1/users/me")
