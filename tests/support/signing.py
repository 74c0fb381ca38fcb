"""Signing keys for tests: one Ed25519 key per test process, shared by every server it starts."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519

from service.auth.tokens.signed import TokenSigner
from service.auth.tokens.signing_keys import Algorithm, load_key_ring, new_private_key, write_key_file

_DIR = Path(tempfile.mkdtemp(prefix="test-signing-keys-"))


@functools.cache
def default_key_path() -> str:
    """The path of this process's default test key."""
    path = _DIR / "default.pem"
    write_key_file(path, ed25519.Ed25519PrivateKey.generate())
    return str(path)


def new_key_path(name: str, algorithm: Algorithm = "EdDSA") -> str:
    """A freshly generated key file (e.g. for a rotation)."""
    path = _DIR / f"{name}.pem"
    path.unlink(missing_ok=True)
    write_key_file(path, new_private_key(algorithm))
    return str(path)


def forge(settings: Any, claims: dict[str, Any], *, key_path: str | None = None) -> str:
    """Sign ``claims`` (iss and aud added) as the server would, or with ``key_path``'s key."""
    ring = load_key_ring([key_path or settings.signing_keys.split(",")[0]], production=True)
    return TokenSigner(ring, settings.issuer, settings.token_audience).sign(
        {k: v for k, v in claims.items() if k not in ("iss", "aud")}
    )
