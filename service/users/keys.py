"""Account keys, and ``Account``: how the service names an account outside its database.

A database numbers users from 1 again when it is new, and hands out again
the ids created after a backup once that backup is restored; Redis, holding
login sessions, may outlive either. So a login session and a token name
their account by id and key, and the database confirms the key on every
query for the caller's data. The key is random, set at registration and
never changes. It is not a secret (it grants nothing without a valid token
or cookie) and is never in a response body, but it is readable in every
token's payload (claim ``ak``) and in the Redis records of sessions.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import TypeGuard

from service.errors import Unauthorized

ACCOUNT_KEY_LENGTH = 32
_ACCOUNT_KEY = re.compile(r"^[0-9a-f]{32}\Z")


def new_account_key() -> str:
    """A fresh account key: 128 random bits as 32 lowercase hex characters."""
    return secrets.token_hex(ACCOUNT_KEY_LENGTH // 2)


def is_account_key(value: object) -> TypeGuard[str]:
    """Whether ``value`` has the form of an account key."""
    return isinstance(value, str) and bool(_ACCOUNT_KEY.match(value))


@dataclass(frozen=True, slots=True)
class Account:
    """An account as tokens, login sessions and the caller's queries name it: id and key."""

    user_id: int
    account_key: str

    @property
    def redis_name(self) -> str:
        """The one string naming this account in Redis keys and records."""
        return f"{self.user_id}:{self.account_key}"


class AccountGone(Unauthorized):
    """A 401: this database has no such account (deleted, or an earlier one with the same id)."""

    def __init__(self) -> None:
        super().__init__("The account no longer exists.")
