"""The outbox of device commands, and waking the gateway when one is written, without a slow poll.

A command is written in the same transaction as the decision that causes it. Once that commits, an
in-process event wakes a gateway in the same process; on PostgreSQL a NOTIFY, delivered on commit,
wakes gateways in other processes.
"""

import threading
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import CommandStatus, DeviceCommand

CHANNEL = "galvani_outbox"
command_written = threading.Event()


def queue_command(session: Session, *, device_id: uuid.UUID, session_id: uuid.UUID, kind: str,
                  body: dict[str, Any], lifetime: timedelta | None = None) -> DeviceCommand:
    """Add a command (payload as device-protocol.md has it) to the caller's transaction."""
    now = utcnow()
    command = DeviceCommand(id=uuid.uuid4(), device_id=device_id, session_id=session_id, kind=kind,
                            status=CommandStatus.QUEUED, expires_at=now + lifetime if lifetime else None)
    expiry = {"expires_at": command.expires_at.isoformat()} if command.expires_at else {}
    command.payload = {"v": 1, "command_id": str(command.id), "type": kind, "session_id": str(session_id),
                       "issued_at": now.isoformat(), **expiry, **body}
    session.add(command)
    session.info["outbox_written"] = True
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"NOTIFY {CHANNEL}"))  # delivered when the transaction commits
    return command


@event.listens_for(Session, "after_commit")
def _wake_gateway(session: Session) -> None:
    if session.info.pop("outbox_written", False):
        command_written.set()
