"""Account keys: what tells apart two accounts that ever had the same id.

A database numbers users from 1 again when it is new, and hands out again
the ids created after a backup once that backup is restored; Redis, holding
login sessions, may outlive either. So a login session and a token name
their account by id and key (the "owner", ``"<id>:<key>"``), and the
database confirms the key on every query for the caller's data. The key is
random, set at registration, never changes and is never shown.
"""

from __future__ import annotations

import re
import secrets

ACCOUNT_KEY_LENGTH = 32
_ACCOUNT_KEY = re.compile(r"^[0-9a-f]{32}$")


def new_account_key() -> str:
    """A fresh account key: 128 random bits as 32 lowercase hex characters."""
    return secrets.token_hex(ACCOUNT_KEY_LENGTH // 2)


def is_account_key(value: object) -> bool:
    """Whether ``value`` has the form of an account key."""
    return isinstance(value, str) and bool(_ACCOUNT_KEY.match(value))


def owner_of(user_id: int, account_key: str) -> str:
    """The one string naming an account in Redis: its id and its key."""
    return f"{user_id}:{account_key}"


class NamesAccount:
    """For a record that names an account by ``user_id`` and ``account_key``: its ``owner``."""

    user_id: int
    account_key: str

    @property
    def owner(self) -> str:
        """The account as Redis names it: id and key."""
        return owner_of(self.user_id, self.account_key)
