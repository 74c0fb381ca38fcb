"""The keys that sign our tokens: loaded from SIGNING_KEYS, published as a JWKS.

One algorithm per deployment, EdDSA (Ed25519) or ES256 (P-256); the first key
listed signs, every key listed verifies, so a rotation puts the new key first
and keeps the old one until its last refresh token has expired. Each key's
``kid`` is its RFC 7638 thumbprint, so it names the key itself, not a file.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from service.auth.key_files import create_private_file

Algorithm = Literal["EdDSA", "ES256"]
PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey
ALGORITHMS: tuple[Algorithm, ...] = ("EdDSA", "ES256")
DEV_KEY_NAME = "signing-key-dev.pem"
_FIX = (
    "list PEM private keys of one kind, Ed25519 (EdDSA) or P-256 (ES256), "
    "e.g. from `python -m service keys generate`"
)


class SigningKeyError(ValueError):
    """SIGNING_KEYS cannot be used; the message is one line naming the fix."""


@dataclass(frozen=True)
class SigningKey:
    """One private key with its thumbprint and the public JWK we publish for it."""

    path: Path
    algorithm: Algorithm
    private_key: PrivateKey = field(repr=False)
    # Kept, not derived per verification: deriving it is a scalar multiplication.
    public_key: PublicKey
    kid: str
    jwk: dict[str, str]


@dataclass(frozen=True)
class KeyRing:
    """The listed keys: the first signs, all verify and are published."""

    keys: tuple[SigningKey, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise SigningKeyError(f"SIGNING_KEYS lists no key: {_FIX}")
        kinds = {key.algorithm for key in self.keys}
        if len(kinds) > 1:
            found = ", ".join(f"{key.path.name} is {key.algorithm}" for key in self.keys)
            raise SigningKeyError(f"SIGNING_KEYS mixes algorithms ({found}): one algorithm per deployment")
        kids = [key.kid for key in self.keys]
        if len(set(kids)) != len(kids):
            raise SigningKeyError("SIGNING_KEYS lists the same key twice: list each key once")

    @property
    def algorithm(self) -> Algorithm:
        return self.keys[0].algorithm

    @property
    def signing_key(self) -> SigningKey:
        return self.keys[0]

    def find(self, kid: str) -> SigningKey | None:
        """The listed key with this thumbprint, if any."""
        for key in self.keys:
            if key.kid == kid:
                return key
        return None

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The JWK Set document: the public half of every listed key."""
        return {"keys": [dict(key.jwk) for key in self.keys]}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def public_jwk_members(public_key: PublicKey) -> dict[str, str]:
    """The JWK members that define a public key (RFC 8037 for OKP, RFC 7518 for EC)."""
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw)}
    numbers = public_key.public_numbers()
    return {
        "crv": "P-256",
        "kty": "EC",
        "x": _b64url(numbers.x.to_bytes(32, "big")),
        "y": _b64url(numbers.y.to_bytes(32, "big")),
    }


def thumbprint(members: dict[str, str]) -> str:
    """RFC 7638 thumbprint: SHA-256 of the required members, sorted, no whitespace."""
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return _b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def _checked(private_key: Any, path: Path) -> tuple[Algorithm, PrivateKey]:
    """The key's algorithm, or SigningKeyError for a kind we do not sign with."""
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return "EdDSA", private_key
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        if isinstance(private_key.curve, ec.SECP256R1):
            _check_deterministic_ecdsa(private_key, path)
            return "ES256", private_key
        raise SigningKeyError(
            f"SIGNING_KEYS: {path} is an EC key on {private_key.curve.name}; ES256 needs P-256: {_FIX}"
        )
    kinds = {rsa.RSAPrivateKey: "an RSA", ed448.Ed448PrivateKey: "an Ed448", dsa.DSAPrivateKey: "a DSA"}
    kind = next((name for cls, name in kinds.items() if isinstance(private_key, cls)), "another kind of")
    raise SigningKeyError(f"SIGNING_KEYS: {path} is {kind} key: {_FIX}")


def _check_deterministic_ecdsa(private_key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    # Re-issuing an identical token needs RFC 6979 nonces: OpenSSL 3.2 or later.
    try:
        private_key.sign(b"probe", ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    except UnsupportedAlgorithm:
        raise SigningKeyError(
            f"SIGNING_KEYS: {path} is a P-256 key, but this OpenSSL cannot sign ES256 "
            "deterministically (needs 3.2 or later): use Ed25519 keys"
        ) from None


def load_signing_key(path: Path) -> SigningKey:
    """Read one unencrypted PEM private key; SigningKeyError says what is wrong with it."""
    try:
        data = path.read_bytes()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise SigningKeyError(f"SIGNING_KEYS: cannot read {path} ({reason}): {_FIX}") from None
    try:
        private_key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise SigningKeyError(
            f"SIGNING_KEYS: {path} is encrypted; list unencrypted PEM keys (keep the file mode 0600)"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        if _is_public_key(data):
            raise SigningKeyError(
                f"SIGNING_KEYS: {path} holds a public key; list the private key "
                "(its public half is what gets published)"
            ) from None
        raise SigningKeyError(f"SIGNING_KEYS: {path} is not a PEM private key: {_FIX}") from None
    algorithm, private_key = _checked(private_key, path)
    public_key = private_key.public_key()
    members = public_jwk_members(public_key)
    kid = thumbprint(members)
    jwk = {**members, "kid": kid, "alg": algorithm, "use": "sig"}
    return SigningKey(path, algorithm, private_key, public_key, kid, jwk)


def _is_public_key(data: bytes) -> bool:
    try:
        serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        return False
    return True


def parse_signing_keys(value: str) -> list[Path]:
    """SIGNING_KEYS as paths: comma-separated, blanks around commas ignored."""
    if not value.strip():
        return []
    entries = [entry.strip() for entry in value.split(",")]
    if not all(entries):
        raise SigningKeyError(f"SIGNING_KEYS has an empty entry in {value!r}: separate paths with one comma")
    return [Path(entry) for entry in entries]


def load_key_ring(
    signing_keys: str | Sequence[str | Path],
    *,
    production: bool,
    key_dir: Path = Path("var"),
) -> KeyRing:
    """The deployment's keys; outside production with none listed, a kept generated key."""
    paths = (
        parse_signing_keys(signing_keys)
        if isinstance(signing_keys, str)
        else [Path(path) for path in signing_keys]
    )
    if not paths:
        if production:
            raise SigningKeyError(
                "SIGNING_KEYS must be set when APP_ENV=production: "
                "generate a key with `python -m service keys generate` and list its path"
            )
        paths = [ensure_dev_key(key_dir)]
    return KeyRing(tuple(load_signing_key(path) for path in paths))


def _pem(private_key: PrivateKey) -> bytes:
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def new_private_key(algorithm: Algorithm) -> PrivateKey:
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key(ec.SECP256R1())


def write_key_file(path: Path, private_key: PrivateKey) -> bool:
    """Create ``path`` (mode 0600) with the key unless it exists; True if this call created it."""
    try:
        return create_private_file(path, _pem(private_key))
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise SigningKeyError(
            f"SIGNING_KEYS: cannot create {path} ({reason}): use a writable directory "
            "on a file system with hard links, or list existing keys"
        ) from None


def ensure_dev_key(key_dir: Path) -> Path:
    """The development key under ``key_dir``, generated (Ed25519) the first time."""
    path = key_dir / DEV_KEY_NAME
    if not path.exists():
        write_key_file(path, ed25519.Ed25519PrivateKey.generate())
    return path
