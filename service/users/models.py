"""The user table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from service.models import Base, UTCDateTime, utcnow
from service.users.keys import ACCOUNT_KEY_LENGTH, new_account_key


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Random, never changing, never shown: tells this account apart from any
    # other that has or had the same id (see service/users/keys.py).
    account_key: Mapped[str] = mapped_column(String(ACCOUNT_KEY_LENGTH), default=new_account_key)

    # Usernames are unique without regard to case; the expression index is
    # also what the login lookup uses.
    __table_args__ = (Index("uq_users_username_lower", func.lower(username), unique=True),)
