"""Resumed sessions carry their own steps; gateways report problems and share one lease.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 02:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.base import UTCDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("treatment_sessions") as table:
        table.add_column(sa.Column("steps", sa.JSON(), nullable=True))
        table.add_column(sa.Column("first_step", sa.Integer(), nullable=False, server_default="0"))
        table.add_column(sa.Column("resumes_session_id", sa.Uuid(), nullable=True))
        table.create_foreign_key(
            op.f("fk_treatment_sessions_resumes_session_id_treatment_sessions"),
            "treatment_sessions",
            ["resumes_session_id"],
            ["id"],
        )
    op.execute(
        "UPDATE treatment_sessions SET steps = "
        "(SELECT protocols.steps FROM protocols WHERE protocols.id = treatment_sessions.protocol_id)"
    )
    with op.batch_alter_table("treatment_sessions") as table:
        table.alter_column("steps", existing_type=sa.JSON(), nullable=False)
    with op.batch_alter_table("gateway_presence") as table:
        table.add_column(sa.Column("role", sa.String(length=16), nullable=False, server_default="active"))
        table.add_column(sa.Column("problems", sa.JSON(), nullable=False, server_default="[]"))
    op.create_table(
        "gateway_leases",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("holder", sa.String(length=100), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_gateway_leases")),
    )


def downgrade() -> None:
    op.drop_table("gateway_leases")
    with op.batch_alter_table("gateway_presence") as table:
        table.drop_column("problems")
        table.drop_column("role")
    with op.batch_alter_table("treatment_sessions") as table:
        table.drop_constraint(op.f("fk_treatment_sessions_resumes_session_id_treatment_sessions"), type_="foreignkey")
        table.drop_column("resumes_session_id")
        table.drop_column("first_step")
        table.drop_column("steps")
