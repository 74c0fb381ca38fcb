"""Every bad token is a 401 with a problem body and WWW-Authenticate: Bearer."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from service.auth.tokens.signing_keys import load_key_ring
from tests.factories import logged_in_user
from tests.support.live import LiveServer
from tests.support.signing import forge as sign_claims
from tests.support.signing import new_key_path

ME = "/api/v1/users/me"


def forge(server: LiveServer, token: str, **changes: object) -> str:
    """A validly signed copy of ``token`` with claims changed, or dropped where None."""
    claims = jwt.decode(token, options={"verify_signature": False})
    claims.update(changes)
    claims = {k: v for k, v in claims.items() if v is not None}
    return sign_claims(server.settings, claims)


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "header",
    ["", "Bearer", "Basic dXNlcjpwYXNz", "Bearer not.a.jwt", "Bearer a.b", "Token abc"],
)
def test_missing_or_malformed_tokens_are_refused(client: httpx.Client, header: str) -> None:
    headers = {"Authorization": header} if header else {}
    assert_refused(client.get(ME, headers=headers))


@pytest.mark.parametrize("claim", ["exp", "iat", "sub", "ak", "jti", "typ", "sid"])
def test_a_token_without_a_required_claim_is_refused(
    client: httpx.Client, server: LiveServer, claim: str
) -> None:
    account = logged_in_user(client)
    token = forge(server, account.access_token, **{claim: None})
    assert_refused(client.get(ME, headers={"Authorization": f"Bearer {token}"}))


def test_an_expired_token_is_refused(client: httpx.Client, server: LiveServer) -> None:
    account = logged_in_user(client)
    past = int(time.time()) - 3600
    token = forge(server, account.access_token, iat=past - 60, exp=past)
    response = client.get(ME, headers={"Authorization": f"Bearer {token}"})
    assert_refused(response)
    assert "expired" in response.json()["detail"]


def test_a_token_signed_with_a_key_not_listed_is_refused(client: httpx.Client, server: LiveServer) -> None:
    account = logged_in_user(client)
    claims = jwt.decode(account.access_token, options={"verify_signature": False})
    token = sign_claims(server.settings, claims, key_path=new_key_path("unlisted"))
    assert_refused(client.get(ME, headers={"Authorization": f"Bearer {token}"}))


def test_a_listed_kid_over_another_key_is_refused(client: httpx.Client, server: LiveServer) -> None:
    account = logged_in_user(client)
    claims = jwt.decode(account.access_token, options={"verify_signature": False})
    kid = jwt.get_unverified_header(account.access_token)["kid"]
    token = jwt.encode(claims, ed25519.Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": kid})
    assert_refused(client.get(ME, headers={"Authorization": f"Bearer {token}"}))


def test_other_algorithms_are_refused(client: httpx.Client, server: LiveServer) -> None:
    account = logged_in_user(client)
    claims = jwt.decode(account.access_token, options={"verify_signature": False})
    kid = jwt.get_unverified_header(account.access_token)["kid"]
    es256 = load_key_ring([new_key_path("es256", "ES256")], production=True).signing_key
    # The public key as an HMAC secret is the classic confusion attack.
    public = client.get("/.well-known/jwks.json").json()["keys"][0]["x"]
    for algorithm, key in (("HS256", public), ("none", None), ("ES256", es256.private_key)):
        token = jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid})  # type: ignore[arg-type]
        assert_refused(client.get(ME, headers={"Authorization": f"Bearer {token}"}))


@pytest.mark.parametrize("member", ["jku", "x5u", "jwk"])
def test_a_header_naming_a_key_source_is_refused(
    client: httpx.Client, server: LiveServer, member: str
) -> None:
    account = logged_in_user(client)
    claims = jwt.decode(account.access_token, options={"verify_signature": False})
    key_path = server.settings.signing_keys.split(",")[0]
    key = load_key_ring([key_path], production=True).signing_key
    value: object = key.jwk if member == "jwk" else "https://attacker.example/keys"
    token = jwt.encode(claims, key.private_key, algorithm="EdDSA", headers={"kid": key.kid, member: value})
    assert_refused(client.get(ME, headers={"Authorization": f"Bearer {token}"}))


def test_a_non_string_subject_is_refused(client: httpx.Client, server: LiveServer) -> None:
    account = logged_in_user(client)
    token = forge(server, account.access_token, sub=account.id)
    assert_refused(client.get(ME, headers={"Authorization": f"Bearer {token}"}))


def test_a_token_for_another_users_session_is_refused(client: httpx.Client, server: LiveServer) -> None:
    victim, attacker = logged_in_user(client), logged_in_user(client)
    victim_sid = jwt.decode(victim.access_token, options={"verify_signature": False})["sid"]
    # Even with the signing key, pointing one's token at another user's live session fails.
    token = forge(server, attacker.access_token, sid=victim_sid)
    assert_refused(client.get(ME, headers={"Authorization": f"Bearer {token}"}))


def test_a_refresh_token_cannot_authorize_a_request(client: httpx.Client) -> None:
    account = logged_in_user(client)
    assert_refused(client.get(ME, headers={"Authorization": f"Bearer {account.refresh_token}"}))


def _signed(server: LiveServer, claims: dict[str, object]) -> str:
    """``claims`` signed with the server's key exactly as given (PyJWT's encode may check types)."""
    return sign_claims(server.settings, claims)


def _wrong_types(claims: dict[str, object]) -> dict[str, dict[str, object]]:
    """Changes a validly signed token might carry, each of the wrong type or shape."""
    exp, iat = claims["exp"], claims["iat"]
    return {
        "exp a numeric string": {"exp": str(exp)},
        "exp a float": {"exp": float(exp) + 0.5},
        "exp true": {"exp": True},
        "exp a list": {"exp": [exp]},
        "iat a numeric string": {"iat": str(iat)},
        "iat an object": {"iat": {"t": iat}},
        "nbf a numeric string": {"nbf": str(iat)},
        "nbf a float": {"nbf": float(iat)},
        "sub an integer": {"sub": int(str(claims["sub"]))},
        "sub with a leading zero": {"sub": f"0{claims['sub']}"},
        "sub negative": {"sub": f"-{claims['sub']}"},
        "sub in other digits": {"sub": "".join(chr(0x0660 + int(d)) for d in str(claims["sub"]))},
        "sub beyond 64 bits": {"sub": "9" * 30},
        "ak an integer": {"ak": 12345},
        "ak in capitals": {"ak": str(claims["ak"]).upper()},
        "sid an integer": {"sid": 1},
        "sid a list": {"sid": [claims["sid"]]},
        "sid of another shape": {"sid": "x" * 32},
        "jti an object": {"jti": {"id": claims["jti"]}},
        "jti empty": {"jti": ""},
        "typ a list": {"typ": ["access"]},
        "typ an integer": {"typ": 1},
        "typ unknown": {"typ": "admin"},
    }


CHANGES = list(_wrong_types({"exp": 1, "iat": 1, "sub": "1", "ak": "a", "sid": "s", "jti": "j"}))


@pytest.mark.parametrize("change", CHANGES)
def test_a_signed_access_token_with_a_claim_of_the_wrong_type_is_refused_every_time(
    client: httpx.Client, server: LiveServer, change: str
) -> None:
    account = logged_in_user(client)
    claims = jwt.decode(account.access_token, options={"verify_signature": False})
    token = _signed(server, claims | _wrong_types(claims)[change])
    # Twice: the first answer must not have cached anything the second trips over.
    for _ in range(2):
        assert_refused(client.get(ME, headers={"Authorization": f"Bearer {token}"}))
    # The genuine token is untouched.
    assert client.get(ME, headers=account.auth).status_code == 200


@pytest.mark.parametrize("change", CHANGES)
def test_a_signed_refresh_token_with_a_claim_of_the_wrong_type_is_refused_every_time(
    client: httpx.Client, server: LiveServer, change: str
) -> None:
    account = logged_in_user(client)
    claims = jwt.decode(account.refresh_token, options={"verify_signature": False})
    token = _signed(server, claims | _wrong_types(claims)[change])
    for _ in range(2):
        assert_refused(client.post("/api/v1/auth/refresh", json={"refresh_token": token}))
    # Refused before it reached the session: the genuine refresh token still works once.
    assert (
        client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh_token}).status_code == 200
    )


def test_the_signing_helper_makes_tokens_the_server_accepts(client: httpx.Client, server: LiveServer) -> None:
    # Without this, every refusal above could be the helper's fault.
    account = logged_in_user(client)
    claims = jwt.decode(account.access_token, options={"verify_signature": False})
    token = _signed(server, claims)
    assert client.get(ME, headers={"Authorization": f"Bearer {token}"}).status_code == 200
