"""The JWKS document: public keys only, cacheable, and enough for another service to verify offline."""

from __future__ import annotations

import httpx
import jwt
import pytest

from tests.factories import logged_in_user
from tests.support.examples import example_verifier
from tests.support.live import LiveServer

JWKS = "/.well-known/jwks.json"


def test_the_jwks_lists_public_keys_with_a_cache_header(client: httpx.Client) -> None:
    response = client.get(JWKS)
    assert response.status_code == 200
    assert response.headers["Cache-Control"].startswith("public, max-age=")
    (key,) = response.json()["keys"]
    assert key["kty"] == "OKP" and key["crv"] == "Ed25519" and key["alg"] == "EdDSA" and key["use"] == "sig"
    assert "d" not in key  # never the private half
    account = logged_in_user(client)
    assert jwt.get_unverified_header(account.access_token)["kid"] == key["kid"]


def test_the_example_verifier_checks_live_tokens_with_only_the_jwks_url(
    client: httpx.Client, server: LiveServer
) -> None:
    verify = example_verifier().verify
    keys = jwt.PyJWKClient(f"{server.url}{JWKS}")
    account = logged_in_user(client)
    pinned = {"issuer": server.settings.issuer, "audience": server.settings.token_audience}
    claims = verify(keys, account.access_token, **pinned)
    assert claims["sub"] == str(account.id)
    with pytest.raises(jwt.InvalidTokenError):
        verify(keys, account.refresh_token, **pinned)
    with pytest.raises(jwt.InvalidIssuerError):
        verify(keys, account.access_token, **{**pinned, "issuer": "https://elsewhere.example"})
