"""TOTP steps and recovery codes, without a server: the clock arithmetic and the code shapes."""

from __future__ import annotations

import pyotp

from service.auth.mfa import totp

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
NOW = 1_764_600_015.0  # 15 s into a step


def test_the_code_of_this_step_and_one_either_side_match_and_no_other() -> None:
    step = int(NOW // 30)
    otp = pyotp.TOTP(SECRET)
    for offset in (-1, 0, 1):
        assert totp.matching_step(SECRET, otp.at(NOW + 30 * offset), NOW) == step + offset
    for offset in (-3, -2, 2, 3):
        code = otp.at(NOW + 30 * offset)
        if code not in {otp.at(NOW + 30 * near) for near in (-1, 0, 1)}:
            assert totp.matching_step(SECRET, code, NOW) is None


def test_only_six_ascii_digits_are_totp_codes() -> None:
    assert totp.is_totp_code("012345")
    for code in ("12345", "1234567", "12345a", "\uff10\uff11\uff12\uff13\uff14\uff15", "123456\n"):
        assert not totp.is_totp_code(code)
        assert totp.matching_step(SECRET, code, NOW) is None


def test_ten_distinct_recovery_codes_whose_hash_ignores_case_and_dashes() -> None:
    codes = totp.new_recovery_codes()
    assert len(set(codes)) == 10
    for code in codes:
        assert totp.is_recovery_code(code) and len(code) == 14
        digest = totp.recovery_code_hash(code)
        assert digest == totp.recovery_code_hash(code.upper().replace("-", ""))
        assert code not in digest


def test_the_uri_names_the_issuer_and_the_user() -> None:
    uri = totp.otpauth_uri(SECRET, username="alice", issuer="service")
    parsed = pyotp.parse_uri(uri)
    assert parsed.issuer == "service" and parsed.name == "alice" and parsed.secret == SECRET
