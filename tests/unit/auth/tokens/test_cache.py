"""The cache of verified tokens gives exactly PyJWT's answers, only faster."""

from __future__ import annotations

import time

import pytest

from config.settings import Settings
from service.auth.tokens.cache import VerifiedTokens
from service.auth.tokens.jwts import Claims, decode_token, issue_token, new_id
from service.errors import Unauthorized
from service.users.keys import Account, new_account_key
from tests.support.signing import default_key_path, new_key_path

VERIFIER = "issuer audience kid"
ACCOUNT = Account(7, new_account_key())
SESSION = new_id()


def _settings(key_path: str | None = None) -> Settings:
    return Settings(signing_keys=key_path or default_key_path())


def _claims(expires_at: int) -> Claims:
    return Claims(ACCOUNT, SESSION, new_id(), "access", expires_at)


def test_a_token_decodes_the_same_from_the_cache() -> None:
    token, claims = issue_token(_settings(), account=ACCOUNT, session_id=SESSION, token_type="access")
    first = decode_token(_settings(), token, token_type="access")
    again = decode_token(_settings(), token, token_type="access")
    assert first == again == claims


def test_a_cached_token_is_refused_once_its_key_is_no_longer_listed() -> None:
    token, _ = issue_token(_settings(), account=ACCOUNT, session_id=SESSION, token_type="access")
    decode_token(_settings(), token, token_type="access")
    with pytest.raises(Unauthorized):
        decode_token(_settings(new_key_path("replacement")), token, token_type="access")


def test_a_cached_token_of_the_wrong_type_is_still_refused() -> None:
    token, _ = issue_token(_settings(), account=ACCOUNT, session_id=SESSION, token_type="refresh")
    decode_token(_settings(), token, token_type="refresh")
    with pytest.raises(Unauthorized, match="type"):
        decode_token(_settings(), token, token_type="access")


def test_a_tampered_copy_of_a_cached_token_is_refused() -> None:
    token, _ = issue_token(_settings(), account=ACCOUNT, session_id=SESSION, token_type="access")
    decode_token(_settings(), token, token_type="access")
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(Unauthorized):
        decode_token(_settings(), tampered, token_type="access")


def test_an_expired_token_is_never_served_from_the_cache() -> None:
    cache = VerifiedTokens()
    claims = _claims(expires_at=100)
    cache.put(VERIFIER, "token", claims)
    assert cache.get(VERIFIER, "token", now=99.5) == claims
    assert cache.get(VERIFIER, "token", now=100) is None  # PyJWT: expired once exp <= now


def test_an_expired_token_is_refused_as_expired() -> None:
    settings = _settings()
    past = int(time.time()) - settings.access_token_ttl - 10
    token, _ = issue_token(settings, account=ACCOUNT, session_id=SESSION, token_type="access", now=past)
    with pytest.raises(Unauthorized, match="expired"):
        decode_token(settings, token, token_type="access")


def test_the_cache_stays_bounded() -> None:
    cache = VerifiedTokens(size=8)
    for number in range(100):
        cache.put(VERIFIER, f"token-{number}", _claims(expires_at=10**10))
    assert len(cache._entries) <= 8
    assert cache.get(VERIFIER, "token-99", now=0) is not None
