"""Where login sessions live in Redis: every key of an account's sessions under one hash tag.

The tag is a digest of the account's ``redis_name`` (id and account key), so
a token's claims name the keys of its session without a lookup, every
script over one account's sessions touches one Redis Cluster slot, and a
database that hands out an id again (a new account with a new key) never
finds an earlier account's sessions. Ids appear in base64url (11 characters
for a session id's 16 hex) rather than hex: a session costs Redis each byte
of its key and of its index entry.

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
    """A hex session or token id in base64url: 11 characters for 16 hex, 22 for 32."""
    return base64.urlsafe_b64encode(bytes.fromhex(hex_id)).decode().rstrip("=")


def long_id(short: str) -> str:
    """The hex id that ``short_id`` shortened."""
    return base64.urlsafe_b64decode(short + "=" * (-len(short) % 4)).hex()


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


# A session record's ``c``: who last logged in or refreshed with it, packed in
# one field of fixed-width parts, since a field costs its name and two bytes
# more, and the record fits jemalloc's 64-byte class only so: the live
# refresh token (the first 64 bits of its id: the token is signed, so this
# need only tell its generations apart), the agent's digest, the address.
REFRESH_CHARS = 11
_DIGEST_CHARS = 12
_NO_REFRESH, _NO_AGENT = "." * REFRESH_CHARS, "." * _DIGEST_CHARS  # "." is not base64url


def refresh_handle(token_id: str) -> str:
    """How a session record names its live refresh token."""
    return short_id(token_id)[:REFRESH_CHARS]


def pack_client(refresh_id: str, digest: str, ip: str) -> str:
    """The record's ``c`` for a client at ``ip`` with this agent digest ("" for none) and refresh token."""
    return (refresh_handle(refresh_id) if refresh_id else _NO_REFRESH) + (digest or _NO_AGENT) + ip


def record_client(
    packed: str | None, refresh: str | None, digest: str | None, ip: str | None
) -> tuple[str, str, str]:
    """A record's refresh handle, agent digest and address ("" for none), from ``c``.

    Or, in a record written before ``c``, from its ``r``, ``a`` and ``i``.
    """
    if packed is None:
        return (refresh or "")[:REFRESH_CHARS], digest or "", ip or ""
    handle, agent = packed[:REFRESH_CHARS], packed[REFRESH_CHARS : REFRESH_CHARS + _DIGEST_CHARS]
    return (
        "" if handle == _NO_REFRESH else handle,
        "" if agent == _NO_AGENT else agent,
        packed[REFRESH_CHARS + _DIGEST_CHARS :],
    )


def client_fingerprint(ip: str, user_agent: str) -> str:
    """A client's address and user agent as one short digest: the record's ``g``, for the refresh grace."""
    digest = hashlib.sha256(f"{ip}\n{user_agent}".encode("utf-8", "replace")).digest()
    return base64.urlsafe_b64encode(digest[:12]).decode()
