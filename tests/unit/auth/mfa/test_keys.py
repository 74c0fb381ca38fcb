"""MFA_ENCRYPTION_KEYS: rotatable, generated in development, needed in production."""

from __future__ import annotations

import secrets
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from config.settings import Settings
from service.auth.mfa.keys import DEV_KEY_NAME, MfaKeyError, load_mfa_cipher
from tests.support.signing import default_key_path

SECRET = secrets.token_urlsafe(48)


def test_development_generates_one_key_under_var_and_keeps_it(tmp_path: Path) -> None:
    settings = Settings(app_env="development")
    first = load_mfa_cipher(settings, key_dir=tmp_path)
    sealed = first.encrypt(b"JBSWY3DPEHPK3PXP")
    key_file = tmp_path / DEV_KEY_NAME
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    # A restart (or another worker) reads the same key back.
    assert load_mfa_cipher(settings, key_dir=tmp_path).decrypt(sealed) == b"JBSWY3DPEHPK3PXP"


def test_production_refuses_without_a_key(tmp_path: Path) -> None:
    with pytest.raises(MfaKeyError, match=r"^MFA_ENCRYPTION_KEYS must be set when APP_ENV=production"):
        production = Settings(app_env="production", secret_key=SECRET, signing_keys=default_key_path())
        load_mfa_cipher(production, key_dir=tmp_path)
    assert not (tmp_path / DEV_KEY_NAME).exists()


def test_rotation_the_first_key_encrypts_and_every_key_decrypts() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before = load_mfa_cipher(Settings(mfa_encryption_keys=old))
    sealed_before = before.encrypt(b"secret one")
    after = load_mfa_cipher(Settings(mfa_encryption_keys=f"{new}, {old}"))
    assert after.decrypt(sealed_before) == b"secret one"
    sealed_after = after.encrypt(b"secret two")
    assert Fernet(new.encode()).decrypt(sealed_after) == b"secret two"


def test_a_malformed_key_is_named_by_its_position_not_echoed() -> None:
    good = Fernet.generate_key().decode()
    with pytest.raises(MfaKeyError) as raised:
        load_mfa_cipher(Settings(mfa_encryption_keys=f"{good},not-a-key-at-all"))
    message = str(raised.value)
    assert message.startswith("MFA_ENCRYPTION_KEYS: entry 2 is not a Fernet key")
    assert "not-a-key-at-all" not in message and good not in message
