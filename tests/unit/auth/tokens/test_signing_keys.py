"""SIGNING_KEYS: loading real PEM files, refusals in one line, the kept development key, thumbprints, JWKS."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from service.auth.tokens.key_rotation import generate_signing_key
from service.auth.tokens.signing_keys import (
    DEV_KEY_NAME,
    SigningKeyError,
    load_key_ring,
    load_signing_key,
    write_key_file,
)
from tests.support.processes import ROOT


def write_pem(path: Path, private_key: object, *, password: bytes | None = None) -> Path:
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    path.write_bytes(
        private_key.private_bytes(  # type: ignore[attr-defined]
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )
    )
    return path


def ed25519_pem(tmp_path: Path, name: str = "ed.pem") -> Path:
    return write_pem(tmp_path / name, ed25519.Ed25519PrivateKey.generate())


def p256_pem(tmp_path: Path, name: str = "p256.pem") -> Path:
    return write_pem(tmp_path / name, ec.generate_private_key(ec.SECP256R1()))


def refusal(signing_keys: str, *, production: bool = True, key_dir: Path | None = None) -> str:
    with pytest.raises(SigningKeyError) as caught:
        load_key_ring(signing_keys, production=production, key_dir=key_dir or Path("unused"))
    message = str(caught.value)
    assert "\n" not in message and message.startswith("SIGNING_KEYS")
    return message


def test_first_key_signs_and_every_key_verifies(tmp_path: Path) -> None:
    first, second = ed25519_pem(tmp_path, "a.pem"), ed25519_pem(tmp_path, "b.pem")
    ring = load_key_ring(f" {first} , {second}", production=True)
    assert ring.algorithm == "EdDSA"
    assert ring.signing_key.path == first
    assert [key.path for key in ring.keys] == [first, second]
    assert ring.find(ring.keys[1].kid) is ring.keys[1]
    assert ring.find("not-a-kid") is None


def test_p256_keys_mean_es256(tmp_path: Path) -> None:
    ring = load_key_ring(str(p256_pem(tmp_path)), production=True)
    assert ring.algorithm == "ES256"


def test_mixing_algorithms_is_refused(tmp_path: Path) -> None:
    message = refusal(f"{ed25519_pem(tmp_path)},{p256_pem(tmp_path)}")
    assert "one algorithm per deployment" in message and "ed.pem is EdDSA" in message


@pytest.mark.parametrize(
    ("private_key", "named"),
    [
        (rsa.generate_private_key(public_exponent=65537, key_size=2048), "an RSA key"),
        (ec.generate_private_key(ec.SECP384R1()), "EC key on secp384r1; ES256 needs P-256"),
        (ec.generate_private_key(ec.SECP256K1()), "EC key on secp256k1"),
        (ed448.Ed448PrivateKey.generate(), "an Ed448 key"),
    ],
    ids=["rsa", "p384", "secp256k1", "ed448"],
)
def test_other_key_types_are_refused(tmp_path: Path, private_key: object, named: str) -> None:
    message = refusal(str(write_pem(tmp_path / "other.pem", private_key)))
    assert named in message and "Ed25519 (EdDSA) or P-256 (ES256)" in message


def test_a_public_key_is_refused(tmp_path: Path) -> None:
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    path = tmp_path / "public.pem"
    path.write_bytes(
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    assert "holds a public key; list the private key" in refusal(str(path))


def test_an_encrypted_key_is_refused(tmp_path: Path) -> None:
    path = write_pem(tmp_path / "locked.pem", ed25519.Ed25519PrivateKey.generate(), password=b"pw")
    assert "is encrypted" in refusal(str(path))


def test_unreadable_and_garbage_files_are_refused(tmp_path: Path) -> None:
    assert f"cannot read {tmp_path / 'missing.pem'}" in refusal(str(tmp_path / "missing.pem"))
    assert "cannot read" in refusal(str(tmp_path))  # a directory
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n")
    assert "is not a PEM private key" in refusal(str(garbage))


def test_list_mistakes_are_refused(tmp_path: Path) -> None:
    key = ed25519_pem(tmp_path)
    assert "empty entry" in refusal(f"{key},,{key}")
    assert "the same key twice" in refusal(f"{key},{key}")


def test_production_refuses_to_start_without_keys(tmp_path: Path) -> None:
    message = refusal("", key_dir=tmp_path)
    assert "APP_ENV=production" in message and "python -m service keys generate" in message
    assert list(tmp_path.iterdir()) == []  # nothing generated behind the operator's back


def test_development_generates_one_private_key_and_keeps_it(tmp_path: Path) -> None:
    key_dir = tmp_path / "var"
    first = load_key_ring("", production=False, key_dir=key_dir)
    again = load_key_ring("", production=False, key_dir=key_dir)
    assert first.algorithm == "EdDSA"
    assert again.signing_key.kid == first.signing_key.kid
    assert [path.name for path in key_dir.iterdir()] == [DEV_KEY_NAME]
    assert stat.S_IMODE((key_dir / DEV_KEY_NAME).stat().st_mode) == 0o600


def test_a_development_key_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    message = refusal("", production=False, key_dir=tmp_path / "file" / "var")
    assert "cannot create" in message and "writable directory" in message


RACER = """
import sys, time
from pathlib import Path
from service.auth.tokens.signing_keys import load_key_ring
root, start = Path(sys.argv[1]), float(sys.argv[2])
while time.time() < start:
    pass
for n in range(100):
    print(load_key_ring("", production=False, key_dir=root / str(n)).signing_key.kid)
"""


def test_workers_starting_together_agree_on_one_development_key(tmp_path: Path) -> None:
    start = time.time() + 1.5  # once every racer has imported the service
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(tmp_path), str(start)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [racer.communicate(timeout=60)[0].split() for racer in racers]
    assert [racer.returncode for racer in racers] == [0] * len(racers)
    for n, kids in enumerate(zip(*outputs, strict=True)):
        assert len(set(kids)) == 1, f"racers disagree on key {n}"
        assert [path.name for path in (tmp_path / str(n)).iterdir()] == [DEV_KEY_NAME]  # no temporaries


def test_an_existing_key_file_is_never_replaced(tmp_path: Path) -> None:
    path = ed25519_pem(tmp_path, "kept.pem")
    before = path.read_bytes()
    assert write_key_file(path, ed25519.Ed25519PrivateKey.generate()) is False
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["kept.pem"]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_ed25519_kid_is_the_rfc_8037_thumbprint(tmp_path: Path) -> None:
    # RFC 8037 appendix A.1 (the key) and A.3 (its RFC 7638 thumbprint).
    d = base64.urlsafe_b64decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=")
    key = load_signing_key(write_pem(tmp_path / "rfc.pem", ed25519.Ed25519PrivateKey.from_private_bytes(d)))
    assert key.jwk["x"] == "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    assert key.kid == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_p256_kid_is_the_thumbprint_of_its_coordinates(tmp_path: Path) -> None:
    private_key = ec.generate_private_key(ec.SECP256R1())
    key = load_signing_key(write_pem(tmp_path / "p256.pem", private_key))
    # Coordinates as PyJWT encodes them, independently of our code.
    theirs = jwt.algorithms.ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    assert (key.jwk["x"], key.jwk["y"]) == (theirs["x"], theirs["y"])
    by_hand = '{"crv":"P-256","kty":"EC","x":"%s","y":"%s"}' % (theirs["x"], theirs["y"])  # noqa: UP031
    assert key.kid == b64url(hashlib.sha256(by_hand.encode()).digest())


def test_jwks_publishes_only_the_public_half_of_every_key(tmp_path: Path) -> None:
    ring = load_key_ring(
        f"{ed25519_pem(tmp_path, 'a.pem')},{ed25519_pem(tmp_path, 'b.pem')}", production=True
    )
    document = json.loads(json.dumps(ring.jwks()))
    assert [jwk["kid"] for jwk in document["keys"]] == [key.kid for key in ring.keys]
    for jwk in document["keys"]:
        assert set(jwk) == {"kty", "crv", "x", "kid", "alg", "use"}
        assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == ("OKP", "Ed25519", "EdDSA", "sig")
    es = load_key_ring(str(p256_pem(tmp_path)), production=True).jwks()["keys"][0]
    assert set(es) == {"kty", "crv", "x", "y", "kid", "alg", "use"}
    assert (es["kty"], es["crv"], es["alg"]) == ("EC", "P-256", "ES256")
    parsed = jwt.PyJWKSet.from_dict(document)  # a standard client reads it
    assert [k.key_id for k in parsed.keys] == [key.kid for key in ring.keys]


def test_generate_puts_a_new_key_first_and_keeps_the_old_ones(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    first = generate_signing_key(keys)
    assert load_key_ring(first, production=True).algorithm == "EdDSA"
    rotated = generate_signing_key(keys, current=first)
    new_path, old_path = rotated.split(",")
    assert old_path == first and new_path != first
    ring = load_key_ring(rotated, production=True)
    assert ring.signing_key.path == Path(new_path)
    assert stat.S_IMODE(Path(new_path).stat().st_mode) == 0o600


def test_generate_follows_the_deployment_algorithm(tmp_path: Path) -> None:
    es = generate_signing_key(tmp_path, algorithm="ES256")
    assert load_key_ring(generate_signing_key(tmp_path, current=es), production=True).algorithm == "ES256"
    with pytest.raises(SigningKeyError, match="one algorithm per deployment"):
        generate_signing_key(tmp_path, current=es, algorithm="EdDSA")
    with pytest.raises(SigningKeyError, match="cannot read"):
        generate_signing_key(tmp_path, current=str(tmp_path / "missing.pem"))
