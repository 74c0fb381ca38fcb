"""Key rotation's first step: a new key, and the SIGNING_KEYS value that puts it first.

The procedure (docs/deployment.md): deploy the printed value, keep the old key
listed until its last refresh token has expired (REFRESH_TOKEN_TTL), then drop it.
"""

from __future__ import annotations

from pathlib import Path

from service.auth.tokens.signing_keys import (
    ALGORITHMS,
    Algorithm,
    KeyRing,
    SigningKeyError,
    load_signing_key,
    new_private_key,
    parse_signing_keys,
    public_jwk_members,
    thumbprint,
    write_key_file,
)


def generate_signing_key(
    key_dir: Path,
    *,
    current: str = "",
    algorithm: Algorithm | None = None,
) -> str:
    """Write a new key under ``key_dir`` and return SIGNING_KEYS with it first, then ``current``.

    The algorithm defaults to that of the current keys (EdDSA when there are
    none); asking for another one is refused, since one deployment verifies
    one algorithm.
    """
    old_paths = parse_signing_keys(current)
    old = KeyRing(tuple(load_signing_key(path) for path in old_paths)) if old_paths else None
    kind = algorithm or (old.algorithm if old else "EdDSA")
    if kind not in ALGORITHMS:
        raise SigningKeyError(f"SIGNING_KEYS: unknown algorithm {kind!r}: use EdDSA or ES256")
    if old and kind != old.algorithm:
        raise SigningKeyError(
            f"SIGNING_KEYS holds {old.algorithm} keys; a new {kind} key cannot join them: "
            "one algorithm per deployment"
        )
    private_key = new_private_key(kind)
    kid = thumbprint(public_jwk_members(private_key.public_key()))
    path = key_dir / f"signing-key-{kind.lower()}-{kid[:12]}.pem"
    if not write_key_file(path, private_key):
        raise SigningKeyError(f"SIGNING_KEYS: {path} already exists; run the command again")
    return ",".join(str(p) for p in [path, *old_paths])
