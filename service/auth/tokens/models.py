"""The table of personal access tokens: only a hash of each token is stored."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.models import Base, UTCDateTime, utcnow


class PersonalAccessToken(Base):
    __tablename__ = "personal_access_tokens"

    # 64-bit like note ids, so every id a path can carry is a plain miss (404); SQLite's rowid already is.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # SHA-256 of the whole token: 256 random bits need no slow hash, and a
    # look-up by digest needs a deterministic one.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    scopes: Mapped[str] = mapped_column(String(200))  # space-separated, sorted
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Kept, not deleted: the durable record that a cache miss cannot revive it.
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (Index("ix_personal_access_tokens_user_id_id", "user_id", "id"),)
