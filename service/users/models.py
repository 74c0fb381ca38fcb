"""The user table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, String, false, func
from sqlalchemy.orm import Mapped, mapped_column

from service.models import Base, UTCDateTime, utcnow
from service.users.keys import ACCOUNT_KEY_LENGTH, new_account_key

EMAIL_MAX_LENGTH = 254  # RFC 5321's limit on a forward path, less the brackets


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Random, never changing, never shown: tells this account apart from any
    # other that has or had the same id (see service/users/keys.py).
    account_key: Mapped[str] = mapped_column(String(ACCOUNT_KEY_LENGTH), default=new_account_key)
    # Email: the address and whether its owner confirmed it; an
    # address being changed waits in pending_email until it is confirmed.
    email: Mapped[str | None] = mapped_column(String(EMAIL_MAX_LENGTH), default=None)
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    pending_email: Mapped[str | None] = mapped_column(String(EMAIL_MAX_LENGTH), default=None)

    # Usernames are unique without regard to case; the expression index is
    # also what the login lookup uses.
    # Verified addresses are unique without regard to case too (a partial
    # index: unconfirmed ones may repeat, so registering says nothing of others).
    __table_args__ = (
        Index("uq_users_username_lower", func.lower(username), unique=True),
        Index(
            "uq_users_verified_email_lower",
            func.lower(email),
            unique=True,
            sqlite_where=email_verified,
            postgresql_where=email_verified,
        ),
    )
