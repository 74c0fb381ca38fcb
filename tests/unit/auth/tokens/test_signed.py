"""Tokens signed by the key ring: deterministic for EdDSA and ES256, strict on verify, checkable via JWKS."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from service.auth.tokens.key_rotation import generate_signing_key
from service.auth.tokens.signed import DeterministicES256, TokenRejected, TokenSigner
from service.auth.tokens.signing_keys import Algorithm, KeyRing, load_key_ring
from tests.support.examples import example_verifier
from tests.support.processes import ROOT

ISSUER, AUDIENCE = "https://notes.example", "notes-api"


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": "7", "sid": "s1", "jti": "j1", "typ": "access", "iat": now, "exp": now + 900, **changes}


def ring_of(tmp_path: Path, algorithm: Algorithm, current: str = "") -> tuple[str, KeyRing]:
    value = generate_signing_key(tmp_path, current=current, algorithm=algorithm)
    return value, load_key_ring(value, production=True)


@pytest.fixture(params=["EdDSA", "ES256"])
def signer(request: pytest.FixtureRequest, tmp_path: Path) -> TokenSigner:
    return TokenSigner(ring_of(tmp_path, request.param)[1], ISSUER, AUDIENCE)


def test_a_signed_token_verifies_with_iss_aud_and_kid(signer: TokenSigner) -> None:
    token = signer.sign(claims())
    assert jwt.get_unverified_header(token) == {
        "alg": signer.ring.algorithm,
        "kid": signer.ring.signing_key.kid,
        "typ": "JWT",
    }
    verified = signer.verify(token, require=["sub", "typ"])
    assert verified == {**claims(), "iss": ISSUER, "aud": AUDIENCE}


def test_the_same_claims_give_the_same_token_on_every_instance(signer: TokenSigner) -> None:
    fixed = claims(iat=1_900_000_000, exp=1_900_000_900)
    token = signer.sign(fixed)
    assert signer.sign(dict(reversed(fixed.items()))) == token  # order of claims does not matter
    # Another instance loading the same files issues the very same bytes.
    other = TokenSigner(
        load_key_ring([key.path for key in signer.ring.keys], production=True), ISSUER, AUDIENCE
    )
    assert other.sign(fixed) == token
    assert signer.sign({**fixed, "jti": "j2"}) != token


def test_es256_uses_rfc_6979_nonces() -> None:
    # RFC 6979 appendix A.2.5: P-256, SHA-256, message "sample".
    private = ec.derive_private_key(
        int("C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721", 16), ec.SECP256R1()
    )
    r = "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716"
    s = "F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8"
    assert DeterministicES256().sign(b"sample", private).hex().upper() == r + s


def test_an_old_key_still_listed_verifies_and_a_removed_one_does_not(tmp_path: Path) -> None:
    algorithm = "EdDSA"
    old_value, old_ring = ring_of(tmp_path, algorithm)
    old_token = TokenSigner(old_ring, ISSUER, AUDIENCE).sign(claims())
    rotated_value, rotated = ring_of(tmp_path, algorithm, current=old_value)
    new_signer = TokenSigner(rotated, ISSUER, AUDIENCE)
    assert new_signer.verify(old_token)["sub"] == "7"
    assert jwt.get_unverified_header(new_signer.sign(claims()))["kid"] == rotated.keys[0].kid
    only_new = TokenSigner(load_key_ring(rotated_value.split(",")[0], production=True), ISSUER, AUDIENCE)
    with pytest.raises(TokenRejected, match="not listed"):
        only_new.verify(old_token)


def b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def forged(signer: TokenSigner, **header: Any) -> str:
    """A token signed by our own key but with extra header members."""
    key = signer.ring.signing_key
    payload = {**claims(), "iss": ISSUER, "aud": AUDIENCE}
    return jwt.encode(payload, key.private_key, algorithm=key.algorithm, headers={"kid": key.kid, **header})


@pytest.mark.parametrize(
    "member",
    [
        {"jku": "https://evil.example/jwks.json"},
        {"x5u": "https://evil.example/cert.pem"},
        {"jwk": {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}},
        {"x5c": ["MIIB"]},
        {"crit": ["b64"]},
        {"typ": "at+jwt"},
    ],
    ids=["jku", "x5u", "jwk", "x5c", "crit", "typ"],
)
def test_header_members_we_never_issue_are_refused(signer: TokenSigner, member: dict[str, Any]) -> None:
    with pytest.raises(TokenRejected):
        signer.verify(forged(signer, **member))


def test_other_algorithms_are_refused(signer: TokenSigner, tmp_path: Path) -> None:
    kid = signer.ring.signing_key.kid
    payload = {**claims(), "iss": ISSUER, "aud": AUDIENCE}
    unsigned = f"{b64({'alg': 'none', 'kid': kid, 'typ': 'JWT'})}.{b64(payload)}."
    # The classic confusion: HMAC keyed with the published public key.
    public_x = signer.ring.signing_key.jwk["x"].encode()
    hmac = jwt.encode(payload, public_x * 2, algorithm="HS256", headers={"kid": kid})
    other = "ES256" if signer.ring.algorithm == "EdDSA" else "EdDSA"
    other_ring = ring_of(tmp_path / "other", other)[1]
    foreign = jwt.encode(payload, other_ring.signing_key.private_key, algorithm=other, headers={"kid": kid})
    for token in (unsigned, hmac, foreign):
        with pytest.raises(TokenRejected, match="algorithm"):
            signer.verify(token)


def test_unlisted_missing_or_borrowed_kids_are_refused(signer: TokenSigner, tmp_path: Path) -> None:
    stranger = TokenSigner(ring_of(tmp_path / "stranger", signer.ring.algorithm)[1], ISSUER, AUDIENCE)
    with pytest.raises(TokenRejected, match="not listed"):
        signer.verify(stranger.sign(claims()))
    key = stranger.ring.signing_key
    payload = {**claims(), "iss": ISSUER, "aud": AUDIENCE}
    anonymous = jwt.encode(payload, key.private_key, algorithm=key.algorithm)
    with pytest.raises(TokenRejected, match="not listed"):
        signer.verify(anonymous)
    borrowed = jwt.encode(
        payload, key.private_key, algorithm=key.algorithm, headers={"kid": signer.ring.signing_key.kid}
    )
    with pytest.raises(jwt.InvalidSignatureError):
        signer.verify(borrowed)


def test_issuer_and_audience_are_required_and_checked(signer: TokenSigner) -> None:
    elsewhere = TokenSigner(signer.ring, "https://other.example", AUDIENCE)
    with pytest.raises(jwt.InvalidIssuerError):
        signer.verify(elsewhere.sign(claims()))
    for_other = TokenSigner(signer.ring, ISSUER, "other-api")
    with pytest.raises(jwt.InvalidAudienceError):
        signer.verify(for_other.sign(claims()))
    key = signer.ring.signing_key
    for missing in ("iss", "aud"):
        payload = {**claims(), "iss": ISSUER, "aud": AUDIENCE}
        del payload[missing]
        token = jwt.encode(payload, key.private_key, algorithm=key.algorithm, headers={"kid": key.kid})
        with pytest.raises(jwt.MissingRequiredClaimError):
            signer.verify(token)
    listed = {**claims(), "iss": ISSUER, "aud": [AUDIENCE, "other-api"]}
    with pytest.raises(jwt.InvalidAudienceError):
        signer.verify(jwt.encode(listed, key.private_key, algorithm=key.algorithm, headers={"kid": key.kid}))


@pytest.mark.parametrize("name", ["exp", "iat", "nbf"])
@pytest.mark.parametrize("value", ["1900000000", 1900000000.5, True])
def test_time_claims_that_are_not_integers_are_refused(signer: TokenSigner, name: str, value: object) -> None:
    with pytest.raises(jwt.InvalidTokenError):  # signed by our own key: the type is still checked
        signer.verify(signer.sign(claims(**{name: value})))


def test_expired_and_malformed_tokens_are_invalid(signer: TokenSigner) -> None:
    with pytest.raises(jwt.ExpiredSignatureError):
        signer.verify(signer.sign(claims(exp=int(time.time()) - 1)))
    junk_tokens = (
        "",
        "a.b",
        "not.a.token",
        "e30.e30.",
        f"{b64(b'[]')}.{b64({})}.sig",
        "\ud800.e30.e30",
        "é.e30.e30",
    )
    for junk in junk_tokens:
        with pytest.raises(jwt.InvalidTokenError):
            signer.verify(junk)


class JwksServer:
    """A loopback HTTP server publishing a JWKS document, as the service will."""

    def __init__(self, document: dict[str, Any]) -> None:
        body = json.dumps(document).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", "public, max-age=300")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.http.serve_forever, args=(0.05,), daemon=True)


@pytest.fixture
def jwks_server(signer: TokenSigner) -> Iterator[JwksServer]:
    server = JwksServer(signer.ring.jwks())
    server.thread.start()
    yield server
    server.http.shutdown()
    server.http.server_close()


def test_a_resource_server_verifies_offline_with_the_jwks_url(
    signer: TokenSigner, jwks_server: JwksServer
) -> None:
    verify = example_verifier().verify
    client = jwt.PyJWKClient(jwks_server.url)
    pinned = {"issuer": ISSUER, "audience": AUDIENCE, "algorithm": signer.ring.algorithm}
    token = signer.sign(claims())
    assert verify(client, token, **pinned)["sub"] == "7"
    with pytest.raises(jwt.InvalidTokenError, match="not an access token"):
        verify(client, signer.sign(claims(typ="refresh")), **pinned)
    with pytest.raises(jwt.InvalidAudienceError):
        verify(client, token, **{**pinned, "audience": "another-api"})
    other = "ES256" if signer.ring.algorithm == "EdDSA" else "EdDSA"
    with pytest.raises(jwt.InvalidAlgorithmError):
        verify(client, token, **{**pinned, "algorithm": other})


def test_a_resource_server_refuses_a_key_no_longer_published(
    signer: TokenSigner, jwks_server: JwksServer, tmp_path: Path
) -> None:
    stranger = TokenSigner(ring_of(tmp_path / "stranger", signer.ring.algorithm)[1], ISSUER, AUDIENCE)
    client = jwt.PyJWKClient(jwks_server.url)
    with pytest.raises(jwt.PyJWKClientError):
        example_verifier().verify(client, stranger.sign(claims()), issuer=ISSUER, audience=AUDIENCE)


def test_the_example_runs_as_a_command(signer: TokenSigner, jwks_server: JwksServer) -> None:
    command = [sys.executable, "docs/examples/verify_token.py", jwks_server.url, ISSUER, AUDIENCE]
    algorithm = signer.ring.algorithm
    done = subprocess.run(
        [*command, signer.sign(claims()), algorithm], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert "'sub': '7'" in done.stdout
    refused = subprocess.run(
        [*command, "e30.e30.e30", algorithm], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert refused.returncode != 0
