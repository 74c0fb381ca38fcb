"""An authenticator for tests: pyotp enrolling an account over HTTP and computing its codes."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import httpx
import pyotp

from tests.factories import Account

TOTP = "/api/v1/auth/mfa/totp"
CONFIRM = "/api/v1/auth/mfa/totp/confirm"
LOGIN = "/api/v1/auth/login"
LOGIN_MFA = "/api/v1/auth/login/mfa"
SESSION = "/api/v1/session"
SESSION_MFA = "/api/v1/session/mfa"


@dataclass
class Authenticator:
    """The app on the user's phone: the secret, and the recovery codes written down."""

    secret: str
    recovery_codes: list[str] = field(default_factory=list)

    def code(self, steps: int = 0) -> str:
        """The code of the current time step, or of ``steps`` steps later (negative: earlier)."""
        return pyotp.TOTP(self.secret).at(time.time() + 30 * steps)


def enrol(client: httpx.Client, account: Account) -> Authenticator:
    response = client.post(TOTP, json={"current_password": account.password}, headers=account.auth)
    assert response.status_code == 200, response.text
    return Authenticator(response.json()["secret"])


def turn_on(client: httpx.Client, account: Account) -> Authenticator:
    """Enrol and confirm with the current code (its step is then spent)."""
    app = enrol(client, account)
    response = client.post(CONFIRM, json={"code": app.code()}, headers=account.auth)
    assert response.status_code == 200, response.text
    app.recovery_codes = response.json()["recovery_codes"]
    return app


def first_step(client: httpx.Client, account: Account, path: str = LOGIN) -> str:
    """The mfa_token of a login's first step."""
    response = client.post(path, json={"username": account.username, "password": account.password})
    assert response.status_code == 202, response.text
    return response.json()["mfa_token"]
