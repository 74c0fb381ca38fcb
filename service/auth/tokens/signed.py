"""Sign claims into JWTs with the key ring, deterministically, and verify them strictly.

The same claims always give the same token: Ed25519 signatures are
deterministic (RFC 8032) and ES256 signs with RFC 6979 nonces. A refresh
presented again within the reuse-grace window can therefore re-issue the
identical successor from the claims alone, so no presentable token is stored.
Verification pins the deployment's algorithm, picks the key by ``kid`` among
the listed keys and accepts no header a forger could use to supply a key.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from jwt.utils import der_to_raw_signature

from service.auth.tokens.signing_keys import KeyRing

HEADER_TYPE = "JWT"
# We issue exactly these header members; anything else (jku, x5u, jwk, x5c,
# crit, b64, ...) would only come from someone else, so it is refused.
ALLOWED_HEADER = frozenset({"alg", "kid", "typ"})
REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat")
TIME_CLAIMS = ("exp", "iat", "nbf")


class TokenRejected(jwt.InvalidTokenError):
    """The token's header or claims are not of the shape this service issues."""


class DeterministicES256(ECAlgorithm):
    """PyJWT's ES256 with RFC 6979 deterministic nonces (cryptography 43+ on OpenSSL 3.2+)."""

    def __init__(self) -> None:
        super().__init__(ECAlgorithm.SHA256, ec.SECP256R1)

    def sign(self, msg: bytes, key: ec.EllipticCurvePrivateKey) -> bytes:
        signature = key.sign(msg, ec.ECDSA(self.hash_alg(), deterministic_signing=True))
        return der_to_raw_signature(signature, key.curve)


def _signer() -> jwt.PyJWS:
    # Our own PyJWS, so the global one PyJWT's other users share stays as shipped.
    signer = jwt.PyJWS(algorithms=["EdDSA"])
    signer.register_algorithm("ES256", DeterministicES256())
    return signer


_jws = _signer()


def claims_bytes(claims: Mapping[str, Any]) -> bytes:
    """The payload as canonical JSON: equal claims give equal bytes, whatever their order."""
    return json.dumps(claims, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _unverified_header(token: str) -> dict[str, Any]:
    """The JOSE header, only to pick the key: ``jwt.decode`` then checks every segment strictly.

    Parsing just this segment here, rather than with ``jwt.get_unverified_header``,
    spares a second strict pass over the whole token.
    """
    if not token.isascii():  # a JWS is base64url and dots; a lone surrogate would not even encode
        raise jwt.DecodeError("The token is not base64url text.")
    segment = token.partition(".")[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)).decode("utf-8"))
    except (ValueError, binascii.Error):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise jwt.DecodeError("The token header is not base64url JSON.") from None
    if not isinstance(header, dict):
        raise jwt.DecodeError("The token header is not a JSON object.")
    return header


@dataclass(frozen=True)
class TokenSigner:
    """Issues and verifies the deployment's JWTs: one key ring, one issuer, one audience."""

    ring: KeyRing
    issuer: str
    audience: str

    def sign(self, claims: Mapping[str, Any]) -> str:
        """The JWT for ``claims`` plus ``iss`` and ``aud``, signed by the first key."""
        key = self.ring.signing_key
        payload = {**claims, "iss": self.issuer, "aud": self.audience}
        return _jws.encode(
            claims_bytes(payload),
            key.private_key,
            algorithm=key.algorithm,
            headers={"kid": key.kid, "typ": HEADER_TYPE},
        )

    def verify(self, token: str, *, require: Iterable[str] = (), leeway: float = 0) -> dict[str, Any]:
        """The verified claims; a ``jwt.InvalidTokenError`` subclass for any defect."""
        header = _unverified_header(token)
        if not ALLOWED_HEADER.issuperset(header):
            raise TokenRejected("The token header has members this service never issues.")
        if header.get("alg") != self.ring.algorithm:
            raise TokenRejected("The token is not signed with this deployment's algorithm.")
        if header.get("typ", HEADER_TYPE) != HEADER_TYPE:
            raise TokenRejected("The token is not a JWT.")
        kid = header.get("kid")
        key = self.ring.find(kid) if isinstance(kid, str) else None
        if key is None:
            raise TokenRejected("The token is signed with a key that is not listed.")
        claims: dict[str, Any] = jwt.decode(
            token,
            key.public_key,
            algorithms=[self.ring.algorithm],
            audience=self.audience,
            issuer=self.issuer,
            leeway=leeway,
            options={"require": [*REQUIRED_CLAIMS, *require], "strict_aud": True},
        )
        # PyJWT takes int("1900000000") for exp; whoever caches or compares
        # the claims next would fail on the string, so only integers pass.
        for name in TIME_CLAIMS:
            if name in claims and (type(claims[name]) is not int):
                raise TokenRejected(f"The token's {name} is not an integer.")
        return claims
