"""The notes table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.models import Base, UTCDateTime, utcnow

# 64-bit ids on PostgreSQL (a busy table outgrows int32); SQLite's rowid is
# 64-bit already and must be spelled INTEGER to be the rowid.
NoteId = BigInteger().with_variant(Integer(), "sqlite")


class Note(Base):
    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(NoteId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        # The list query is "WHERE user_id = ? AND id < ? ORDER BY id DESC LIMIT n":
        # this index answers it with one range scan at any table size.
        Index("ix_notes_user_id_id", "user_id", "id"),
        # Ids are never reused on SQLite either, so a deleted note's id can
        # never come back as someone else's note.
        {"sqlite_autoincrement": True},
    )
