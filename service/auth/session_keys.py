"""Where login sessions live in Redis: every key of an account's sessions under one hash tag.

The tag is a digest of the account's ``redis_name`` (id and account key), so
a token's claims name the keys of its session without a lookup, every
script over one account's sessions touches one Redis Cluster slot, and a
database that hands out an id again (a new account with a new key) never
finds an earlier account's sessions. Ids appear in their 22-character
base64url form rather than 32 hex characters: a session costs Redis each
byte of its key and of its index entry.

* ``auth:s:{tag}<sid>``: the session, a small hash (see ``session_scripts``).
* ``auth:i:{tag}``: the account's sessions by creation time (a sorted set).
* ``auth:ua:<digest>``: one user agent, once for the whole deployment however
  many sessions of however many accounts share it (no tag: its own slot).
"""

from __future__ import annotations

import base64
import hashlib

from service.users.keys import Account

SESSION_PREFIX = "auth:s:"
INDEX_PREFIX = "auth:i:"
AGENT_PREFIX = "auth:ua:"


def account_tag(account: Account) -> str:
    """The Redis Cluster hash tag of ``account``'s session keys: 72 bits of a digest, in braces."""
    digest = hashlib.sha256(account.redis_name.encode()).digest()[:9]
    return "{" + base64.urlsafe_b64encode(digest).decode() + "}"


def short_id(hex_id: str) -> str:
    """A 32-hex-character session or token id as 22 base64url characters."""
    return base64.urlsafe_b64encode(bytes.fromhex(hex_id)).decode().rstrip("=")


def long_id(short: str) -> str:
    """The 32-hex-character id that ``short_id`` shortened."""
    return base64.urlsafe_b64decode(short + "==").hex()


def session_key(account: Account, session_id: str) -> str:
    return session_key_of_member(account, short_id(session_id))


def session_key_of_member(account: Account, member: str) -> str:
    """The session key of an index member (a short id)."""
    return f"{SESSION_PREFIX}{account_tag(account)}{member}"


def index_key(account: Account) -> str:
    return f"{INDEX_PREFIX}{account_tag(account)}"


def agent_digest(user_agent: str) -> str:
    """Twelve characters naming one user agent among the deployment's (72 bits).

    Shared by every account, so long enough that nobody can make up an agent
    with a popular agent's digest and overwrite what other users are shown.
    """
    digest = hashlib.sha256(user_agent.encode("utf-8", "replace")).digest()[:9]
    return base64.urlsafe_b64encode(digest).decode()


def agent_key(digest: str) -> str:
    """The deployment-wide key of the user agent with this digest."""
    return f"{AGENT_PREFIX}{digest}"


# The layout before: an 8-character digest, a copy per account.
_LEGACY_DIGEST = 8


def agent_key_of_record(account: Account, digest: str) -> str:
    """Where the agent a session record names lives, in the layout it was written in."""
    if len(digest) == _LEGACY_DIGEST:
        return f"{AGENT_PREFIX}{account_tag(account)}{digest}"
    return agent_key(digest)
