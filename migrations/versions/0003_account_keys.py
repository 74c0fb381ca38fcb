"""account keys: a random, never-changing key per user, so a reused id is a new account

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_users = sa.table("users", sa.column("id", sa.Integer()), sa.column("account_key", sa.String(32)))


def upgrade() -> None:
    op.add_column("users", sa.Column("account_key", sa.String(length=32), nullable=True))
    # Every existing account gets its own random key (generated here, not by
    # the database: the same code on SQLite and PostgreSQL, from secrets).
    bind = op.get_bind()
    ids = bind.execute(sa.select(_users.c.id)).scalars().all()
    if ids:
        fill = (
            _users.update()
            .where(_users.c.id == sa.bindparam("user_id"))
            .values(account_key=sa.bindparam("key"))
        )
        bind.execute(fill, [{"user_id": user_id, "key": secrets.token_hex(16)} for user_id in ids])
    with _rebuilding_users() as batch:
        batch.alter_column("account_key", existing_type=sa.String(length=32), nullable=False)


def downgrade() -> None:
    with _rebuilding_users() as batch:
        batch.drop_column("account_key")


@contextmanager
def _rebuilding_users() -> Iterator[BatchOperations]:
    """Alter ``users`` in a batch: plain ALTERs on PostgreSQL, a rebuilt table on SQLite.

    SQLite reflection cannot see the expression index on lower(username), so
    the rebuilt table would lack it (and warn about it): it is made again here.
    The rebuild drops the old table, which with foreign keys enforced would
    delete every note (ON DELETE CASCADE); SQLite ignores turning them off
    inside a transaction, so a connection that has them on is refused.
    """
    bind = op.get_bind()
    if bind.dialect.name == "sqlite" and bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError("migrate SQLite with foreign keys off: rebuilding users would delete notes")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
        with op.batch_alter_table("users") as batch:
            yield batch
    if bind.dialect.name != "sqlite":
        return
    exists = bind.execute(
        sa.text("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'uq_users_username_lower'")
    ).first()
    if exists is None:
        op.create_index("uq_users_username_lower", "users", [sa.text("lower(username)")], unique=True)
