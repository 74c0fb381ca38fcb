"""Checking a second-factor code: what logins and every sensitive action call.

Sensitive actions (password change, turning the factor off; email change,
personal access tokens and account deletion call it too) check the password
first, then ``require_second_factor``: 403 when the factor is on and the code
is missing or wrong. A wrong code counts toward the login limits like a wrong
password, so a stolen access token with the password is no code oracle.
"""

from __future__ import annotations

from cryptography.fernet import InvalidToken

from service.auth import limits
from service.auth.mfa import repository as mfa_repository
from service.auth.mfa import totp
from service.auth.sessions import ClientInfo
from service.errors import Forbidden
from service.serving.runtime import Runtime
from service.users.keys import Account, AccountGone

CODE_NEEDED = 'This account has a second factor: send its current code as "code".'
CODE_WRONG = "The second-factor code is wrong."


async def verify_code(rt: Runtime, account: Account, secret_encrypted: bytes, code: str) -> bool:
    """Whether ``code`` is a TOTP code not accepted before, or an unused recovery code (now spent)."""
    if totp.is_recovery_code(code):
        return await mfa_repository.spend_recovery_code(rt.db, account, totp.recovery_code_hash(code))
    if not totp.is_totp_code(code):
        return False
    step = totp.matching_step(decrypt_secret(rt, secret_encrypted), code)
    return step is not None and await totp.accept_step(rt.redis, account, step)


def decrypt_secret(rt: Runtime, secret_encrypted: bytes) -> str:
    """The base32 secret; a key missing from MFA_ENCRYPTION_KEYS is an operator's fault, not the caller's."""
    try:
        return rt.mfa_cipher.decrypt(secret_encrypted).decode("ascii")
    except InvalidToken:
        raise RuntimeError(
            "a TOTP secret is encrypted under a key MFA_ENCRYPTION_KEYS no longer lists"
        ) from None


async def require_second_factor(rt: Runtime, account: Account, code: str | None, client: ClientInfo) -> None:
    """Nothing when the account's second factor is off or ``code`` proves it; else 403 (429 over the limits).

    Call it after the password check of a sensitive action.
    """
    state = await mfa_repository.factor_state(rt.db, account)
    if state is None:
        raise AccountGone()
    if not state.confirmed or state.secret_encrypted is None:
        return
    if not code:
        raise Forbidden(CODE_NEEDED)
    await limits.count_attempt(rt.redis, rt.settings, username=state.username, ip=client.ip)
    if not await verify_code(rt, account, state.secret_encrypted, code):
        raise Forbidden(CODE_WRONG)
    await limits.refund_attempt(rt.redis, username=state.username, ip=client.ip)
