"""Alarms: a device's over-current, overtime, loss, fault, refused arming or absence in opening hours, each with
its severity, when it began and ended, and who acknowledged it.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.base import UTCDateTime

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alarms",
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column(
            "severity",
            sa.Enum(
                "high", "medium", "low", name="alarm_severity", native_enum=False, create_constraint=True, length=32
            ),
            nullable=False,
        ),
        sa.Column("began_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.Column("acknowledged_by_id", sa.Uuid(), nullable=True),
        sa.Column("acknowledged_at", UTCDateTime(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name=op.f("fk_alarms_device_id_devices")),
        sa.ForeignKeyConstraint(
            ["session_id"], ["treatment_sessions.id"], name=op.f("fk_alarms_session_id_treatment_sessions")
        ),
        sa.ForeignKeyConstraint(["acknowledged_by_id"], ["users.id"], name=op.f("fk_alarms_acknowledged_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarms")),
    )
    op.create_index("ix_alarms_device_began", "alarms", ["device_id", "began_at"])
    op.create_index("ix_alarms_acknowledged_began", "alarms", ["acknowledged_at", "began_at"])
    op.create_index(op.f("ix_alarms_session_id"), "alarms", ["session_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_alarms_session_id"), table_name="alarms")
    op.drop_index("ix_alarms_acknowledged_began", table_name="alarms")
    op.drop_index("ix_alarms_device_began", table_name="alarms")
    op.drop_table("alarms")
