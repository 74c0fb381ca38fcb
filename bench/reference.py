"""What the two reference apps share: how they verify the service's tokens and check the session.

Both read only the environment ``bench/run.py`` gives them, never the
service's code: ``DATABASE_URL`` and ``REDIS_URL`` (the service's, the
driver swapped by each app), ``JWT_PUBLIC_KEY_FILE`` (a PEM written from the
service's JWKS), ``JWT_ALGORITHM``, ``JWT_ISSUER`` and ``JWT_AUDIENCE`` (from
the JWKS and the token the service issued).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt

# The session check of the references: one EXISTS on a key the benchmark sets
# for the session id of the token it drives them with.
SESSION_PREFIX = "bench:session:"
REQUIRED = ["exp", "iat", "sub", "sid", "typ", "iss", "aud"]


class TokenVerifier:
    """PyJWT with the service's public key, algorithm, issuer and audience, pinned."""

    def __init__(self) -> None:
        self.key = Path(os.environ["JWT_PUBLIC_KEY_FILE"]).read_text()
        self.algorithm = os.environ["JWT_ALGORITHM"]
        self.issuer = os.environ["JWT_ISSUER"]
        self.audience = os.environ["JWT_AUDIENCE"]

    def claims(self, authorization: str | None) -> dict[str, Any] | None:
        """The verified claims of a bearer access token, or None for anything else."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.key,
                algorithms=[self.algorithm],
                issuer=self.issuer,
                audience=self.audience,
                options={"require": REQUIRED},
            )
        except jwt.InvalidTokenError:
            return None
        return claims if claims["typ"] == "access" else None


def sync_url(url: str) -> str:
    """The service's async database URL with the sync driver Flask-SQLAlchemy uses."""
    return url.replace("+asyncpg", "+psycopg2").replace("+aiosqlite", "")


def aware(moment: datetime) -> str:
    """A stored timestamp (naive UTC, as the service writes them) in ISO 8601 with a Z, like the service."""
    utc = moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
    return utc.isoformat() + "Z"


def naive_utc_now() -> datetime:
    """Now, as the service stores timestamps (UTC without an offset)."""
    return datetime.now(UTC).replace(tzinfo=None)
