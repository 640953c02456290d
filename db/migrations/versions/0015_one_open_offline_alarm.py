"""Alarms: at most one open "device offline in opening hours" alarm per device, so that raising it is race-safe (a
partial unique index on SQLite and PostgreSQL alike; the alarms that latch are one per event and stay outside it).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ONE_OPEN = sa.text("kind = 'device_offline' AND ended_at IS NULL")


def upgrade() -> None:
    # Raised on every read of the alarms until now: two readers at once could each add one. Keep the earliest.
    op.execute(
        "UPDATE alarms SET ended_at = began_at WHERE kind = 'device_offline' AND ended_at IS NULL "
        "AND EXISTS (SELECT 1 FROM alarms AS earlier WHERE earlier.device_id = alarms.device_id "
        "AND earlier.kind = 'device_offline' AND earlier.ended_at IS NULL "
        "AND (earlier.began_at < alarms.began_at OR (earlier.began_at = alarms.began_at AND earlier.id < alarms.id)))"
    )
    op.create_index(
        "ix_alarms_one_open_offline",
        "alarms",
        ["device_id", "kind"],
        unique=True,
        sqlite_where=ONE_OPEN,
        postgresql_where=ONE_OPEN,
    )


def downgrade() -> None:
    op.drop_index("ix_alarms_one_open_offline", table_name="alarms")
