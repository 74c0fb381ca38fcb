"""Turning the second factor (TOTP) on and off: enrol, confirm, disable, and the QR code.

Enrolment stores a pending secret, encrypted; it is shown in the enrolment's
answer and as a QR code while pending, never once confirmed. Confirming
with a code turns it on and hands out ten recovery codes, stored hashed.
The security events mfa_enabled and mfa_disabled commit with the change.
"""

from __future__ import annotations

import io

import segno

from service.auth.credentials import check_current_password
from service.auth.email import mailing
from service.auth.mfa import repository as mfa_repository
from service.auth.mfa import totp
from service.auth.mfa.repository import EventContext
from service.auth.mfa.schemas import RecoveryCodes, TotpConfirm, TotpDisable, TotpEnrol, TotpEnrolment
from service.auth.mfa.second_factor import decrypt_secret, require_second_factor
from service.auth.sessions import ClientInfo, Principal
from service.errors import BadRequest, Conflict, NotFound
from service.serving.runtime import Runtime
from service.users import addresses
from service.users.keys import Account, AccountGone

ALREADY_ON = "The second factor is already on."
NOTHING_PENDING = "No second factor is pending: enrol first (POST /api/v1/auth/mfa/totp)."


async def enrol(rt: Runtime, caller: Principal, form: TotpEnrol, client: ClientInfo) -> TotpEnrolment:
    """A new pending secret (replacing a pending one) after the password check; 409 when already on."""
    username = await check_current_password(rt, caller.account, form.current_password, client)
    secret = totp.new_secret()
    if not await mfa_repository.put_pending(rt.db, caller.account, rt.mfa_cipher.encrypt(secret.encode())):
        raise Conflict(ALREADY_ON)
    uri = totp.otpauth_uri(secret, username=username, issuer=rt.settings.mfa_issuer)
    return TotpEnrolment(secret=secret, otpauth_uri=uri)


async def confirm(rt: Runtime, caller: Principal, form: TotpConfirm, client: ClientInfo) -> RecoveryCodes:
    """Turn the pending secret on with a current code; the ten recovery codes, shown only here."""
    state = await mfa_repository.factor_state(rt.db, caller.account)
    if state is None:
        raise AccountGone()
    if state.confirmed:
        raise Conflict(ALREADY_ON)
    if state.secret_encrypted is None:
        raise BadRequest(NOTHING_PENDING)
    step = totp.matching_step(decrypt_secret(rt, state.secret_encrypted), form.code)
    if step is None or not await totp.accept_step(rt.redis, caller.account, step):
        raise BadRequest("The code is wrong: enter the one your authenticator shows now.")
    codes = totp.new_recovery_codes()
    hashes = [totp.recovery_code_hash(code) for code in codes]
    event = EventContext(client, caller.session_id)
    if not await mfa_repository.confirm(rt.db, caller.account, state.secret_encrypted, hashes, event):
        # A parallel confirm won, or a new enrolment replaced the secret this code was for.
        raise Conflict("The enrolment changed meanwhile: enrol again.")
    await _notify(rt, caller.account, enabled=True)
    return RecoveryCodes(recovery_codes=codes)


async def disable(rt: Runtime, caller: Principal, form: TotpDisable, client: ClientInfo) -> None:
    """Turn the second factor off (or drop a pending enrolment): password, then code; 403 otherwise."""
    await check_current_password(rt, caller.account, form.current_password, client)
    await require_second_factor(rt, caller.account, form.code, client)
    await mfa_repository.remove(rt.db, caller.account, EventContext(client, caller.session_id))
    await _notify(rt, caller.account, enabled=False)


async def _notify(rt: Runtime, account: Account, *, enabled: bool) -> None:
    """The 'two-step sign-in on/off' notice, to a confirmed address."""
    record = await addresses.record_of(rt.db, account)
    if record is not None:
        await mailing.notify_second_factor(rt, record, enabled=enabled)


async def pending_qr_svg(rt: Runtime, caller: Principal) -> bytes:
    """The pending enrolment's otpauth URI as an SVG QR code; 404 when none is pending."""
    state = await mfa_repository.factor_state(rt.db, caller.account)
    if state is None:
        raise AccountGone()
    if state.confirmed or state.secret_encrypted is None:
        raise NotFound("No second factor is pending: the QR code is shown only until it is confirmed.")
    uri = totp.otpauth_uri(
        decrypt_secret(rt, state.secret_encrypted), username=state.username, issuer=rt.settings.mfa_issuer
    )
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=4, title="TOTP enrolment")
    return out.getvalue()
