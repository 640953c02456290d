"""Gateway presence: a running gateway connected to the broker says so every few seconds.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.base import UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gateway_presence",
        sa.Column("client_id", sa.String(length=100), nullable=False),
        sa.Column("connected", sa.Boolean(), nullable=False),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_gateway_presence")),
    )


def downgrade() -> None:
    op.drop_table("gateway_presence")
