"""A bounded cache of verified token payloads: verify a token's signature once.

A client sends the same access token with every request for up to
ACCESS_TOKEN_TTL. Verifying it costs about 150 µs each time (PyJWT parses
JSON, prepares the key and checks the base64 alphabet character by
character in Python), a tenth of what an authenticated request costs; a
dictionary look-up costs under a microsecond. Only the exact string that
verified under the same secret hits, and never once ``exp`` has passed, so
the answer is the one PyJWT would give. Revocation is still checked in Redis
on every request; this skips only the signature and claim checks.
"""

from __future__ import annotations

import threading
from typing import Any


class VerifiedTokens:
    """Payloads of tokens that passed verification, keyed by token and secret."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._entries: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()  # WSGI_MODE=threads decodes from many threads

    def get(self, secret: str, token: str, now: float) -> dict[str, Any] | None:
        """The payload if this token verified under ``secret`` and has not expired."""
        payload = self._entries.get((secret, token))
        if payload is None or payload["exp"] <= now:  # PyJWT's rule, with no leeway
            return None
        return payload

    def put(self, secret: str, token: str, payload: dict[str, Any]) -> None:
        with self._lock:
            if len(self._entries) >= self.size:
                # Drop the oldest quarter: expired or idle tokens go first
                # (dicts keep insertion order), and eviction stays rare.
                for key in list(self._entries)[: self.size // 4]:
                    del self._entries[key]
            self._entries[(secret, token)] = payload
