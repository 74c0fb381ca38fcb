"""The FastAPI reference: the same endpoints as a FastAPI user would write them.

FastAPI + async SQLAlchemy (its ORM over aiosqlite or asyncpg, a session per
request from a dependency) + redis.asyncio + PyJWT, served by uvicorn with
uvloop and httptools and as many workers as the service. Each request does
the service's work: verify the bearer token the service issued, one Redis
round trip (the session's key exists), one statement: the user by primary
key, a page of the user's notes (joined to the user, so that its account key
is checked in the same statement), or an insert and its commit. It imports
nothing from the service.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

import redis.asyncio as redis
from fastapi import Depends, FastAPI, Header, HTTPException, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import ForeignKey, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bench.reference import SESSION_PREFIX, TokenVerifier, aware, naive_utc_now

# The service's pool: 20 connections, no overflow.
engine = create_async_engine(os.environ["DATABASE_URL"], pool_size=20, max_overflow=0)
sessions = async_sessionmaker(engine, expire_on_commit=False)
# The service's Redis pool: 64 connections, a request waits up to 5 s for one (redis-py's
# default pool has 100 and fails at once when they are all in use).
pool = redis.BlockingConnectionPool.from_url(os.environ["REDIS_URL"], max_connections=64, timeout=5)
store = redis.Redis(connection_pool=pool)
tokens = TokenVerifier()
app = FastAPI()


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    account_key: Mapped[str] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(254))
    email_verified: Mapped[bool]


class Note(Base):
    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class UserPublic(BaseModel):
    id: int
    username: str
    created_at: str
    email: str | None
    email_verified: bool


class NoteCreate(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(max_length=10_000)


class NotePublic(BaseModel):
    id: int
    title: str
    body: str
    created_at: str
    updated_at: str


class NotePage(BaseModel):
    items: list[NotePublic]
    next_cursor: str | None


async def database() -> AsyncIterator[AsyncSession]:
    async with sessions() as session:
        yield session


async def caller(authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    """The caller's verified claims, with its session live in Redis; 401 otherwise."""
    claims = tokens.claims(authorization)
    if claims is None or not await store.exists(SESSION_PREFIX + claims["sid"]):
        raise HTTPException(401, "not logged in")
    return claims


Claims = Annotated[dict[str, Any], Depends(caller)]
Database = Annotated[AsyncSession, Depends(database)]


def _public(note: Note) -> NotePublic:
    return NotePublic(
        id=note.id,
        title=note.title,
        body=note.body,
        created_at=aware(note.created_at),
        updated_at=aware(note.updated_at),
    )


@app.get("/api/v1/users/me", response_model=UserPublic)
async def read_me(claims: Claims, db: Database) -> UserPublic:
    user = await db.get(User, int(claims["sub"]))
    if user is None or user.account_key != claims.get("ak"):
        raise HTTPException(401, "no such account")
    return UserPublic(
        id=user.id,
        username=user.username,
        created_at=aware(user.created_at),
        email=user.email,
        email_verified=user.email_verified,
    )


@app.get("/api/v1/notes", response_model=NotePage)
async def list_notes(
    claims: Claims, db: Database, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> NotePage:
    page = (
        select(Note)
        .join(User, User.id == Note.user_id)
        .where(User.id == int(claims["sub"]), User.account_key == claims.get("ak"))
        .order_by(Note.id.desc())
        .limit(limit)
    )
    notes = (await db.scalars(page)).all()
    cursor = str(notes[-1].id) if len(notes) == limit else None
    return NotePage(items=[_public(note) for note in notes], next_cursor=cursor)


@app.post("/api/v1/notes", response_model=NotePublic, status_code=201)
async def create_note(form: NoteCreate, claims: Claims, db: Database, response: Response) -> NotePublic:
    now = naive_utc_now()
    note = Note(user_id=int(claims["sub"]), title=form.title, body=form.body, created_at=now, updated_at=now)
    db.add(note)
    await db.commit()
    response.headers["Location"] = f"/api/v1/notes/{note.id}"
    return _public(note)
