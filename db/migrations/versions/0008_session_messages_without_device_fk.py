"""Device messages keep their device_id without a foreign key of its own: the session's foreign key already
ties each message to a device, and checking both cost PostgreSQL about a sixth of each insert
(docs/benchmarks.md).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21 08:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("session_messages") as batch:
        batch.drop_constraint("fk_session_messages_device_id_devices", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("session_messages") as batch:
        batch.create_foreign_key("fk_session_messages_device_id_devices", "devices", ["device_id"], ["id"])
