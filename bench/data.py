"""The benchmark's data: a fresh database per scenario, the seeded users and notes, the references' keys."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import jwt
import psycopg2
import redis
from cryptography.hazmat.primitives import serialization
from sqlalchemy.engine import make_url

from bench.reference import SESSION_PREFIX
from bench.servers import call

LOGIN = "/api/v1/auth/login"
NOTES = "/api/v1/notes"
SEED_NOTES = 120  # more than the largest page the loads ask for (100)


@dataclass
class Seed:
    """What the loads need: a token, login bodies, whether notes exist, and tokens of other targets."""

    base: str
    token: str
    notes: bool
    login_bodies: list[str]
    tokens: dict[str, str] = field(default_factory=dict)  # a target's own token, e.g. the baseline's HS256

    def token_for(self, target: str) -> str:
        return self.tokens.get(target, self.token)


class Database:
    """The scenario's database: a SQLite file, or a fresh PostgreSQL database dropped at the end."""

    def __init__(self, admin_url: str, work: Path) -> None:
        self.admin_url = admin_url
        self.name = f"bench_{os.getpid()}_{secrets.token_hex(4)}"
        self.port: int | None = None
        self.sqlite = work / "bench.db"
        if admin_url:
            parsed = make_url(admin_url)
            self.user, self.port = parsed.username or "postgres", parsed.port or 5432
            self._admin(f'CREATE DATABASE "{self.name}"')

    def url(self, port: int | None) -> str:
        if not self.admin_url:
            return f"sqlite+aiosqlite:///{self.sqlite}"
        return f"postgresql+asyncpg://{self.user}@127.0.0.1:{port}/{self.name}"

    def drop(self) -> None:
        if self.admin_url:
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def _admin(self, statement: str) -> None:
        connection = psycopg2.connect(self.admin_url)
        connection.autocommit = True
        try:
            connection.cursor().execute(statement)
        finally:
            connection.close()


def pg_answers(admin_url: str) -> bool:
    try:
        psycopg2.connect(admin_url, connect_timeout=3).close()
    except psycopg2.Error:
        return False
    return True


def log_in(base: str, username: str, password: str) -> str:
    """An access token of ``username`` from the service at ``base``."""
    status, body = call(f"{base}{LOGIN}", "POST", {"username": username, "password": password})
    if status != 200:
        raise RuntimeError(f"login of {username} at {base} answered {status}: {body}")
    token: str = body["access_token"]
    return token


def seed(base: str, password: str, login_users: int) -> Seed:
    """A user with a token (and notes when the service has them), plus users to log in."""
    call(f"{base}/api/v1/auth/register", "POST", {"username": "bench", "password": password})
    token = log_in(base, "bench", password)
    notes = call(f"{base}{NOTES}", token=token)[0] != 404
    if notes:
        for number in range(SEED_NOTES):
            call(f"{base}{NOTES}", "POST", {"title": f"note {number}", "body": "x" * 200}, token)
    bodies = []
    for number in range(login_users):
        credentials = {"username": f"bench-login-{number}", "password": password}
        call(f"{base}/api/v1/auth/register", "POST", credentials)
        bodies.append(json.dumps(credentials))
    return Seed(base, token, notes, bodies)


def reference_env(base: str, token: str, redis_port: int, work: Path) -> dict[str, str]:
    """What the references need to verify ``token`` as an outside service would, its session marked live.

    The public key comes from the service's JWKS, the algorithm from the
    token's header, issuer and audience from its claims; the session's key
    is set in the scenario's Redis (directly, not through a proxy).
    """
    status, document = call(f"{base}/.well-known/jwks.json")
    if status != 200:
        raise RuntimeError(f"{base}/.well-known/jwks.json answered {status}")
    kid = jwt.get_unverified_header(token).get("kid")
    entry = next((key for key in document["keys"] if key.get("kid") == kid), document["keys"][0])
    public = jwt.PyJWK(entry).key
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (work / "jwt-public.pem").write_bytes(pem)
    claims = jwt.decode(token, options={"verify_signature": False})
    client = redis.Redis(port=redis_port)
    client.set(SESSION_PREFIX + claims["sid"], 1)
    client.close()
    audience = claims["aud"] if isinstance(claims["aud"], str) else claims["aud"][0]
    return {
        "JWT_PUBLIC_KEY_FILE": str(work / "jwt-public.pem"),
        "JWT_ALGORITHM": jwt.get_unverified_header(token)["alg"],
        "JWT_ISSUER": claims["iss"],
        "JWT_AUDIENCE": audience,
    }


def differences(base: str, others: dict[str, str], token: str) -> list[str]:
    """Where a reference answers otherwise than the service (status, fields, page length): none expected."""
    paths = ["/api/v1/users/me", f"{NOTES}?limit=10", f"{NOTES}?limit=100"]
    found = []
    for path in paths:
        status, mine = call(base + path, token=token)
        for name, other in others.items():
            if name != "fastapi" and path.startswith(NOTES):
                continue
            their_status, theirs = call(other + path, token=token)
            if path.startswith(NOTES):
                mine, theirs = {"items": len(mine.get("items", []))}, {"items": len(theirs.get("items", []))}
            if (their_status, theirs) != (status, mine):
                found.append(
                    f"{name} {path}: {their_status} {theirs} where the service gives {status} {mine}"
                )
    return found
