"""email: an optional address per account, its confirmation, and an address being changed

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

Plain ADD COLUMNs (nullable, or with a constant default): no table rebuild on
SQLite, and existing accounts keep working with no address.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

INDEX = "uq_users_verified_email_lower"


def upgrade() -> None:
    op.add_column("users", sa.Column("email", sa.String(length=254), nullable=True))
    op.add_column(
        "users", sa.Column("email_verified", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column("users", sa.Column("pending_email", sa.String(length=254), nullable=True))
    # Partial on both backends: only confirmed addresses must be unique.
    verified = sa.text("email_verified")
    op.create_index(
        INDEX,
        "users",
        [sa.text("lower(email)")],
        unique=True,
        sqlite_where=verified,
        postgresql_where=verified,
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="users")
    for column in ("pending_email", "email_verified", "email"):
        op.drop_column("users", column)
