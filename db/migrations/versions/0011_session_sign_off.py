"""A medical director signs off a finished treatment's record (kept as signed); addenda correct it later; a
session keeps who asked for its output to stop; sessions are listed newest first by an index.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.base import UTCDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("treatment_sessions") as table:
        table.add_column(sa.Column("stop_requested_by_id", sa.Uuid(), nullable=True))
        table.add_column(sa.Column("stop_requested_at", UTCDateTime(), nullable=True))
        table.create_foreign_key(
            op.f("fk_treatment_sessions_stop_requested_by_id_users"), "users", ["stop_requested_by_id"], ["id"]
        )
    op.create_index(op.f("ix_treatment_sessions_created_at"), "treatment_sessions", ["created_at"])
    op.create_table(
        "session_sign_offs",
        sa.Column("appointment_id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("signed_by_id", sa.Uuid(), nullable=False),
        sa.Column("signed_at", UTCDateTime(), nullable=False),
        sa.Column("note", sa.String(length=2000), nullable=True),
        sa.Column("signed_record", sa.JSON(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["appointment_id"], ["appointments.id"], name=op.f("fk_session_sign_offs_appointment_id_appointments")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["treatment_sessions.id"], name=op.f("fk_session_sign_offs_session_id_treatment_sessions")
        ),
        sa.ForeignKeyConstraint(["signed_by_id"], ["users.id"], name=op.f("fk_session_sign_offs_signed_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_sign_offs")),
        sa.UniqueConstraint("appointment_id", name=op.f("uq_session_sign_offs_appointment_id")),
    )
    op.create_index(op.f("ix_session_sign_offs_session_id"), "session_sign_offs", ["session_id"])
    op.create_table(
        "session_addenda",
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("written_by_id", sa.Uuid(), nullable=False),
        sa.Column("written_at", UTCDateTime(), nullable=False),
        sa.Column("text", sa.String(length=4000), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"], ["treatment_sessions.id"], name=op.f("fk_session_addenda_session_id_treatment_sessions")
        ),
        sa.ForeignKeyConstraint(["written_by_id"], ["users.id"], name=op.f("fk_session_addenda_written_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_addenda")),
    )
    op.create_index(op.f("ix_session_addenda_session_id"), "session_addenda", ["session_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_session_addenda_session_id"), table_name="session_addenda")
    op.drop_table("session_addenda")
    op.drop_index(op.f("ix_session_sign_offs_session_id"), table_name="session_sign_offs")
    op.drop_table("session_sign_offs")
    op.drop_index(op.f("ix_treatment_sessions_created_at"), table_name="treatment_sessions")
    with op.batch_alter_table("treatment_sessions") as table:
        table.drop_constraint(op.f("fk_treatment_sessions_stop_requested_by_id_users"), type_="foreignkey")
        table.drop_column("stop_requested_at")
        table.drop_column("stop_requested_by_id")
