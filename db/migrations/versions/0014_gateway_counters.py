"""Gateway counters for /metrics: each gateway writes what it counted (messages received, stored, dropped,
duplicates, malformed, interlock stops, ...) into its presence row, which the API reads at scrape time.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("gateway_presence", sa.Column("counters", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    op.drop_column("gateway_presence", "counters")
