"""Client search: the name-order index also carries search_text on PostgreSQL, for index-only scans.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text("deleted_at IS NULL")
NAME = "ix_clients_live_name_order"


def _recreate(include: list[str]) -> None:
    op.drop_index(NAME, table_name="clients")
    op.create_index(
        NAME,
        "clients",
        ["last_name", "first_name", "id"],
        sqlite_where=LIVE,
        postgresql_where=LIVE,
        postgresql_include=include,
    )


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _recreate(["search_text"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _recreate([])
