"""TOTP codes (RFC 6238: 30 s, 6 digits, one step of drift) and recovery codes.

A TOTP code is accepted once: the last accepted time step of each account is
kept in Redis and a code is taken only for a later step, in one script, so
two instances given the same code at once accept it at most once between them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time

import pyotp
from redis.asyncio import Redis

from service.redis import cached_script
from service.users.keys import Account

STEP_SECONDS = 30
DIGITS = 6
DRIFT_STEPS = 1
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"  # base32, lower case: no 0/1/8/9 to misread
TOTP_PATTERN = r"[0-9]{6}"
RECOVERY_PATTERN = r"[A-Za-z2-7]{4}-?[A-Za-z2-7]{4}-?[A-Za-z2-7]{4}"
CODE_PATTERN = rf"^(?:{TOTP_PATTERN}|{RECOVERY_PATTERN})$"
_TOTP = re.compile(rf"{TOTP_PATTERN}\Z")
_RECOVERY = re.compile(rf"{RECOVERY_PATTERN}\Z")
# Longer than the drift window, so a step cannot be forgotten while its code is still valid.
_STEP_TTL = STEP_SECONDS * (2 * DRIFT_STEPS + 2)

# KEYS[1]: the account's last accepted step; ARGV[1]: the step; ARGV[2]: TTL.
# 1 when the step is later than the last accepted one (and now is), else 0.
_ACCEPT_STEP = """
local last = tonumber(redis.call('GET', KEYS[1]) or '-1')
if tonumber(ARGV[1]) <= last then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""


def new_secret() -> str:
    """A fresh base32 secret of 160 bits (RFC 4226's recommended length)."""
    return pyotp.random_base32(32)


def otpauth_uri(secret: str, *, username: str, issuer: str) -> str:
    """The ``otpauth://totp/...`` URI an authenticator app reads, naming the issuer and the user."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=username, issuer_name=issuer
    )


def is_totp_code(code: str) -> bool:
    return _TOTP.match(code) is not None


def is_recovery_code(code: str) -> bool:
    return _RECOVERY.match(code) is not None


def matching_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The time step (now, one before or one after) whose code is ``code``, if any."""
    if not is_totp_code(code):
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = int((time.time() if now is None else now) // STEP_SECONDS)
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        # Every candidate compared, in constant time: which one matched must not show in the timing.
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


def step_key(account: Account) -> str:
    """The Redis key holding the account's last accepted time step."""
    return f"auth:user:{account.redis_name}:totp-step"


async def accept_step(redis: Redis, account: Account, step: int) -> bool:
    """Take ``step`` as the account's last accepted one; False when it or a later one was taken."""
    script = cached_script(redis, _ACCEPT_STEP)
    return bool(int(await script(keys=[step_key(account)], args=[step, _STEP_TTL])))


def new_recovery_codes() -> list[str]:
    """Ten codes of 60 random bits each, as ``abcd-efgh-ijkl``."""
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(12))
        codes.append(f"{raw[:4]}-{raw[4:8]}-{raw[8:]}")
    return codes


def recovery_code_hash(code: str) -> str:
    """What is stored of a recovery code: SHA-256 of its canonical spelling (60 random bits need no salt)."""
    canonical = code.replace("-", "").lower()
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()
