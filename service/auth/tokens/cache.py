"""A bounded cache of verified tokens: verify a token's signature and claims once.

A client sends the same access token with every request for up to
ACCESS_TOKEN_TTL. Verifying it costs about 150 µs each time (PyJWT parses
JSON, prepares the key and checks the base64 alphabet character by
character in Python), a tenth of what an authenticated request costs; a
dictionary look-up costs under a microsecond. Only the exact string that
verified under the same key ring (keys, issuer, audience) hits, and never once it has expired, so the
answer is the one verifying again would give. What is cached is the typed
``Claims``, built only after every claim's type and shape was checked.
Revocation is still checked in Redis on every request.

There is no lock: every request runs on the one event loop of its process,
and a dictionary operation between two awaits is never interleaved.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from service.auth.tokens.jwts import Claims


class VerifiedTokens:
    """Claims of tokens that passed verification, keyed by token and the verifying keys."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._entries: dict[tuple[str, str], Claims] = {}

    def get(self, verifier: str, token: str, now: float) -> Claims | None:
        """The claims if this token verified under the keys ``verifier`` names and has not expired."""
        claims = self._entries.get((verifier, token))
        if claims is None or claims.expires_at <= now:  # PyJWT's rule, with no leeway
            return None
        return claims

    def put(self, verifier: str, token: str, claims: Claims) -> None:
        if len(self._entries) >= self.size:
            # Drop the oldest quarter: expired or idle tokens go first
            # (dicts keep insertion order), and eviction stays rare.
            for key in list(self._entries)[: self.size // 4]:
                self._entries.pop(key, None)
        self._entries[(verifier, token)] = claims
