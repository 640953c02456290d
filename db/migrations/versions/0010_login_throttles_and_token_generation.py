"""Log-ins end with a password change or a deactivation; failed log-ins are counted per address, not per account.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.base import UTCDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("token_generation", sa.Integer(), nullable=False, server_default="0"))
    # The account-wide lock let anyone lock anyone out; the counts now live in login_throttles. Plain
    # ALTER TABLE … DROP COLUMN (SQLite 3.35+): a batch copy of `users` would trip the foreign keys to it.
    op.drop_column("users", "locked_until")
    op.drop_column("users", "failed_login_count")
    op.create_table(
        "login_throttles",
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", UTCDateTime(), nullable=False),
        sa.Column("locked_until", UTCDateTime(), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("address", "account", name=op.f("pk_login_throttles")),
    )
    op.create_index(op.f("ix_login_throttles_expires_at"), "login_throttles", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_login_throttles_expires_at"), table_name="login_throttles")
    op.drop_table("login_throttles")
    op.add_column("users", sa.Column("failed_login_count", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("users", sa.Column("locked_until", UTCDateTime(), nullable=True))
    op.drop_column("users", "token_generation")
