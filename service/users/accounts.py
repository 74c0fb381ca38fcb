"""Accounts: registration, the profile, and the account side of a password change.

The password check and what a new password does to login sessions belong
to ``service/auth/credentials.py``, which builds on these; nothing here
imports ``service.auth``.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from service.errors import ValidationFailed
from service.serving.runtime import Runtime
from service.users import repository
from service.users.keys import Account, AccountGone
from service.users.models import User
from service.users.schemas import UserCreate, UserPublic


async def register(rt: Runtime, form: UserCreate) -> User:
    """Create an account; the password is stored only as a bcrypt hash."""
    password_hash = await rt.passwords.hash(form.password)
    return await repository.create_user(rt.db, username=form.username, password_hash=password_hash)


async def profile(rt: Runtime, account: Account) -> UserPublic:
    """What the account shows of itself; 401 when this database has no such account."""
    user = await repository.get_user(rt.db, account)
    if user is None:  # deleted since the token was issued, or an earlier account with this id
        raise AccountGone()
    return UserPublic.model_validate(user)


async def require(rt: Runtime, account: Account) -> None:
    """401 unless this database has the account (Redis may outlive its database)."""
    if await repository.get_user(rt.db, account) is None:
        raise AccountGone()


async def password_of(rt: Runtime, account: Account) -> tuple[str, str]:
    """The account's username and password hash; 401 when there is no such account."""
    found = await repository.find_password(rt.db, account)
    if found is None:
        raise AccountGone()
    return found


async def set_password(rt: Runtime, account: Account, *, username: str, new_password: str) -> None:
    """Store ``new_password`` (not the username in any case) as the account's; 401 when it is gone."""
    new_hash = await hash_new_password(rt, username=username, new_password=new_password)
    await store_password_hash(rt, account, new_hash)


async def hash_new_password(rt: Runtime, *, username: str, new_password: str) -> str:
    """The hash of ``new_password``; 422 when it is the username in any case."""
    if new_password.lower() == username.lower():
        message = "must not be the username"
        raise ValidationFailed(
            f"new_password: {message}", errors=[{"field": "new_password", "message": message}]
        )
    return await rt.passwords.hash(new_password)


async def store_password_hash(
    rt: Runtime, account: Account, new_hash: str, unit: AsyncSession | None = None
) -> None:
    """Make ``new_hash`` the account's password (in ``unit`` if given); 401 when it is gone."""
    if not await repository.set_password_hash(rt.db, account, new_hash, unit):
        raise AccountGone()
