"""The writing side of the outbox of device commands; device_gateway/outbox_sender.py is the sending side.

A command is written in the same transaction as the decision that causes it. Once that commits, the senders in
this process are woken through the signals they handed to `wake_on_commit`; on PostgreSQL a NOTIFY, delivered on
commit, wakes the gateways in other processes. Either way, without a slow poll.
"""

import threading
import uuid
import weakref
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import CommandStatus, DeviceCommand

CHANNEL = "galvani_outbox"
_senders: weakref.WeakSet[threading.Event] = weakref.WeakSet()  # each sender's own wake-up signal
_senders_lock = threading.Lock()


def wake_on_commit(signal: threading.Event) -> None:
    """Set `signal` whenever a transaction in this process commits a command to send (for as long as it lives)."""
    with _senders_lock:
        _senders.add(signal)


def queue_command(
    session: Session,
    *,
    device_id: uuid.UUID,
    session_id: uuid.UUID,
    kind: str,
    body: dict[str, Any],
    lifetime: timedelta | None = None,
) -> DeviceCommand:
    """Add a command (payload as device-protocol.md has it) to the caller's transaction."""
    command_id, now = uuid.uuid4(), utcnow()
    expires_at = now + lifetime if lifetime else None
    expiry = {"expires_at": expires_at.isoformat()} if expires_at else {}
    payload = {
        "v": 1,
        "command_id": str(command_id),
        "type": kind,
        "session_id": str(session_id),
        "issued_at": now.isoformat(),
        **expiry,
        **body,
    }
    return record_command(
        session,
        command_id=command_id,
        device_id=device_id,
        session_id=session_id,
        kind=kind,
        payload=payload,
        created_at=now,
        expires_at=expires_at,
        sent=False,
    )


def record_command(
    session: Session,
    *,
    command_id: uuid.UUID,
    device_id: uuid.UUID,
    session_id: uuid.UUID,
    kind: str,
    payload: dict[str, Any],
    created_at: datetime,
    sent: bool,
    expires_at: datetime | None = None,
) -> DeviceCommand:
    """Add a command to the caller's transaction: queued for the gateway to send, or already `sent` (the
    interlock publishes its stops before the database hears of them; the outbox still resends them after a
    reconnect until the device answers)."""
    command = DeviceCommand(
        id=command_id,
        device_id=device_id,
        session_id=session_id,
        kind=kind,
        payload=payload,
        created_at=created_at,
        expires_at=expires_at,
        status=CommandStatus.SENT if sent else CommandStatus.QUEUED,
        sent_at=created_at if sent else None,
        attempts=1 if sent else 0,
    )
    session.add(command)
    if not sent:
        session.info["outbox_written"] = True
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text(f"NOTIFY {CHANNEL}"))  # delivered when the transaction commits
    return command


@event.listens_for(Session, "after_commit")
def _wake_senders(session: Session) -> None:
    if session.info.pop("outbox_written", False):
        with _senders_lock:
            signals = list(_senders)
        for signal in signals:
            signal.set()
