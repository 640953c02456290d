"""Audit: a list read as one row. An event may name many records (record_ids, a JSON array of ids: JSONB with a
GIN index on PostgreSQL), so a list or search read is one event naming every record it returned.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "audit_events",
        sa.Column("record_ids", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
    )
    op.create_index(
        "ix_audit_events_record_ids",
        "audit_events",
        ["record_ids"],
        postgresql_using="gin",
        postgresql_ops={"record_ids": "jsonb_path_ops"},
    )


def downgrade() -> None:
    op.drop_index("ix_audit_events_record_ids", table_name="audit_events")
    op.drop_column("audit_events", "record_ids")
