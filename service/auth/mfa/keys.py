"""The keys that encrypt TOTP secrets at rest: MFA_ENCRYPTION_KEYS as a MultiFernet.

The first key encrypts, every key listed decrypts, so a rotation puts a new
key first and keeps the old ones while any secret encrypted under them is
still in use (a new enrolment is always encrypted under the first).
Development with none listed generates one under ``var/`` and keeps it, as
for the signing key; production refuses to start.
"""

from __future__ import annotations

import binascii
from pathlib import Path

from cryptography.fernet import Fernet, MultiFernet

from config.settings import Settings
from service.auth.key_files import create_private_file

DEV_KEY_NAME = "mfa-key-dev.txt"
_FIX = (
    'generate one with python -c "from cryptography.fernet import Fernet; '
    'print(Fernet.generate_key().decode())"'
)


class MfaKeyError(ValueError):
    """MFA_ENCRYPTION_KEYS cannot be used; the message is one line naming the fix."""


def parse_keys(value: str) -> list[Fernet]:
    """Comma-separated Fernet keys (url-safe base64 of 32 bytes), blanks around commas ignored."""
    entries = [entry.strip() for entry in value.split(",")] if value.strip() else []
    keys = []
    for position, entry in enumerate(entries, 1):
        try:
            keys.append(Fernet(entry.encode("ascii")))
        except (ValueError, binascii.Error, UnicodeEncodeError):
            raise MfaKeyError(
                f"MFA_ENCRYPTION_KEYS: entry {position} is not a Fernet key (44 characters of "
                f"url-safe base64): {_FIX}"
            ) from None
    return keys


def load_mfa_cipher(settings: Settings, key_dir: Path = Path("var")) -> MultiFernet:
    """The deployment's cipher for TOTP secrets; MfaKeyError when production has no key."""
    keys = parse_keys(settings.mfa_encryption_keys.get_secret_value())
    if not keys:
        if settings.is_production:
            raise MfaKeyError(f"MFA_ENCRYPTION_KEYS must be set when APP_ENV=production: {_FIX}")
        keys = [Fernet(_dev_key(key_dir))]
    return MultiFernet(keys)


def _dev_key(key_dir: Path) -> bytes:
    path = key_dir / DEV_KEY_NAME
    # Several workers may start at once: one creates the file, all read it.
    create_private_file(path, Fernet.generate_key())
    return path.read_bytes().strip()
