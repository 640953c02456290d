"""Clinic settings: when the clinic's time zone and opening hours were confirmed, and by whom.

Settings saved before this revision stay unconfirmed: their admin is asked once, on /settings, to check the time
zone and the hours (shown as saved), since until now UTC and 08:00-20:00 were taken without asking.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.base import UTCDateTime

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clinic_settings") as table:
        table.add_column(sa.Column("confirmed_at", UTCDateTime(), nullable=True))
        table.add_column(sa.Column("confirmed_by_id", sa.Uuid(), nullable=True))
        table.create_foreign_key(op.f("fk_clinic_settings_confirmed_by_id_users"), "users", ["confirmed_by_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("clinic_settings") as table:
        table.drop_constraint(op.f("fk_clinic_settings_confirmed_by_id_users"), type_="foreignkey")
        table.drop_column("confirmed_by_id")
        table.drop_column("confirmed_at")
