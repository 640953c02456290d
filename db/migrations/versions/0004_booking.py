"""Booking: protocols (versioned), rooms, devices, series and appointments.

On PostgreSQL, exclusion constraints make overlapping bookings of one room, device or esthetician
impossible, whatever races the application loses.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 05:04:02.619355
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.base import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Two booked appointments may not share a room, a device or an esthetician at overlapping times.
OVERLAP_CONSTRAINTS = {
    "ex_appointments_room_overlap": "room_id",
    "ex_appointments_device_overlap": "device_id",
    "ex_appointments_esthetician_overlap": "esthetician_id",
}


def _exclude_overlaps() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")  # lets a gist index compare uuids with =
    for name, column in OVERLAP_CONSTRAINTS.items():
        op.execute(
            f"ALTER TABLE appointments ADD CONSTRAINT {name} EXCLUDE USING gist "
            f"({column} WITH =, tstzrange(start_at, occupied_until, '[)') WITH &&) WHERE (status = 'booked')"
        )


def upgrade() -> None:
    op.create_table(
        "rooms",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rooms")),
        sa.UniqueConstraint("name", name=op.f("uq_rooms_name")),
    )
    op.create_table(
        "devices",
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("serial", sa.String(length=100), nullable=False),
        sa.Column("room_id", sa.Uuid(), nullable=False),
        sa.Column("probe_area_cm2", sa.Double(), nullable=False),
        sa.Column("mqtt_password_hash", sa.String(length=255), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "in_service",
                "out_of_service",
                "revoked",
                name="device_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name=op.f("fk_devices_room_id_rooms")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
        sa.UniqueConstraint("device_id", name=op.f("uq_devices_device_id")),
        sa.UniqueConstraint("serial", name=op.f("uq_devices_serial")),
    )
    op.create_table(
        "protocols",
        sa.Column("lineage_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("target", sa.JSON(), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("total_output_s", sa.Integer(), nullable=False),
        sa.Column("max_current_ua", sa.Double(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "approved",
                "withdrawn",
                name="protocol_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=False),
        sa.Column("approved_at", UTCDateTime(), nullable=True),
        sa.Column("approved_by_id", sa.Uuid(), nullable=True),
        sa.Column("withdrawn_at", UTCDateTime(), nullable=True),
        sa.Column("withdrawn_by_id", sa.Uuid(), nullable=True),
        sa.Column("withdrawal_reason", sa.String(length=500), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["approved_by_id"], ["users.id"], name=op.f("fk_protocols_approved_by_id_users")),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_protocols_created_by_id_users")),
        sa.ForeignKeyConstraint(["withdrawn_by_id"], ["users.id"], name=op.f("fk_protocols_withdrawn_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_protocols")),
        sa.UniqueConstraint("lineage_id", "version", name="uq_protocols_lineage_version"),
    )
    op.create_table(
        "series",
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("protocol_id", sa.Uuid(), nullable=False),
        sa.Column("esthetician_id", sa.Uuid(), nullable=False),
        sa.Column("room_id", sa.Uuid(), nullable=True),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"], name=op.f("fk_series_client_id_clients")),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_series_created_by_id_users")),
        sa.ForeignKeyConstraint(["esthetician_id"], ["users.id"], name=op.f("fk_series_esthetician_id_users")),
        sa.ForeignKeyConstraint(["protocol_id"], ["protocols.id"], name=op.f("fk_series_protocol_id_protocols")),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name=op.f("fk_series_room_id_rooms")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_series")),
    )
    op.create_table(
        "appointments",
        sa.Column("series_id", sa.Uuid(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("protocol_id", sa.Uuid(), nullable=False),
        sa.Column("esthetician_id", sa.Uuid(), nullable=False),
        sa.Column("room_id", sa.Uuid(), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("start_at", UTCDateTime(), nullable=False),
        sa.Column("end_at", UTCDateTime(), nullable=False),
        sa.Column("occupied_until", UTCDateTime(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "booked",
                "cancelled",
                "completed",
                name="appointment_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("awaiting_screening", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("cancelled_at", UTCDateTime(), nullable=True),
        sa.Column("cancelled_by_id", sa.Uuid(), nullable=True),
        sa.Column("cancel_reason", sa.String(length=500), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["cancelled_by_id"], ["users.id"], name=op.f("fk_appointments_cancelled_by_id_users")),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"], name=op.f("fk_appointments_client_id_clients")),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name=op.f("fk_appointments_device_id_devices")),
        sa.ForeignKeyConstraint(["esthetician_id"], ["users.id"], name=op.f("fk_appointments_esthetician_id_users")),
        sa.ForeignKeyConstraint(["protocol_id"], ["protocols.id"], name=op.f("fk_appointments_protocol_id_protocols")),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name=op.f("fk_appointments_room_id_rooms")),
        sa.ForeignKeyConstraint(["series_id"], ["series.id"], name=op.f("fk_appointments_series_id_series")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appointments")),
    )
    op.create_index("ix_appointments_client_start", "appointments", ["client_id", "start_at"], unique=False)
    op.create_index("ix_appointments_device_start", "appointments", ["device_id", "start_at"], unique=False)
    op.create_index("ix_appointments_esthetician_start", "appointments", ["esthetician_id", "start_at"], unique=False)
    op.create_index("ix_appointments_room_start", "appointments", ["room_id", "start_at"], unique=False)
    op.create_index("ix_appointments_series", "appointments", ["series_id"], unique=False)
    op.create_index("ix_appointments_start", "appointments", ["start_at"], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        _exclude_overlaps()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in OVERLAP_CONSTRAINTS:
            op.execute(f"ALTER TABLE appointments DROP CONSTRAINT {name}")
    op.drop_table("appointments")
    op.drop_table("series")
    op.drop_table("protocols")
    op.drop_table("devices")
    op.drop_table("rooms")
