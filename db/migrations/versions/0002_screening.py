"""Screening: versioned rule sets (version 1 seeded with the defaults of domain.md), screenings, approvals.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from db.base import UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCOPES = ("pregnancy", "body_worn_electronics", "recent_facial_surgery")
# The defaults as of this revision, written out: later code changes must not alter version 1.
FIRST_RULES = {
    "minimum_age_years": 18,
    "retinol_deferral_days": 2,
    "prescription_retinoid_deferral_days": 7,
    "chemical_peel_deferral_days": 14,
    "laser_deferral_days": 14,
    "isotretinoin_deferral_months": 6,
    "botox_exclusion_days": 14,
    "filler_exclusion_months": 3,
    "screening_validity_days": 30,
    "zone_caps_percent": {
        "lips": 50,
        "eyes": 50,
        "forehead": 75,
        "brows": 100,
        "cheeks": 100,
        "jawline": 100,
        "neck": 100,
    },
}


def upgrade() -> None:
    rule_sets = op.create_table(
        "screening_rule_sets",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_screening_rule_sets_created_by_id_users")
        ),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_screening_rule_sets")),
    )
    op.bulk_insert(
        rule_sets, [{"version": 1, "parameters": FIRST_RULES, "created_at": datetime.now(UTC), "created_by_id": None}]
    )
    op.create_table(
        "screenings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("screened_on", sa.Date(), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("excluded_zones", sa.JSON(), nullable=False),
        sa.Column("eligible_from", sa.Date(), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("rule_set_version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"], name=op.f("fk_screenings_client_id_clients")),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_screenings_created_by_id_users")),
        sa.ForeignKeyConstraint(
            ["rule_set_version"],
            ["screening_rule_sets.version"],
            name=op.f("fk_screenings_rule_set_version_screening_rule_sets"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_screenings")),
    )
    op.create_index("ix_screenings_client_created", "screenings", ["client_id", "created_at"])
    op.create_table(
        "physician_approvals",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column(
            "scope",
            sa.Enum(*SCOPES, name="approval_scope", native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),
        sa.Column("physician_name", sa.String(200), nullable=False),
        sa.Column("approved_on", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("document_reference", sa.String(200), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("recorded_by_id", sa.Uuid(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_by_id", sa.Uuid(), nullable=True),
        sa.Column("revocation_reason", sa.String(500), nullable=True),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"], name=op.f("fk_physician_approvals_client_id_clients")),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"], ["users.id"], name=op.f("fk_physician_approvals_recorded_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["revoked_by_id"], ["users.id"], name=op.f("fk_physician_approvals_revoked_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_physician_approvals")),
    )
    op.create_index("ix_physician_approvals_client_scope", "physician_approvals", ["client_id", "scope"])


def downgrade() -> None:
    op.drop_table("physician_approvals")
    op.drop_table("screenings")
    op.drop_table("screening_rule_sets")
