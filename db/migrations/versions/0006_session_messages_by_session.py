"""Device messages are kept unique on (session_id, seq, device_id), the same key in the order they are read.

A session's record and the interlock read its messages by session_id, in seq order; with device_id first,
the old unique index could not serve that, and every read scanned the whole table.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 07:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("session_messages") as batch:
        batch.drop_constraint("uq_session_messages_device_session_seq", type_="unique")
        batch.create_unique_constraint("uq_session_messages_session_seq_device", ["session_id", "seq", "device_id"])


def downgrade() -> None:
    with op.batch_alter_table("session_messages") as batch:
        batch.drop_constraint("uq_session_messages_session_seq_device", type_="unique")
        batch.create_unique_constraint("uq_session_messages_device_session_seq", ["device_id", "session_id", "seq"])
