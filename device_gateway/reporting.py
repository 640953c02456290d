"""How the gateway says how it is: to the API through the database (presence), and to its supervisor's health
check through a file (`galvani gateway-health`)."""

import json
import logging
import os
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from db.base import utcnow
from db.models.gateway import HEARTBEAT, GatewayPresence
from db.session import transaction
from device_gateway.outage import Outage

logger = logging.getLogger(__name__)
PRESENCE_RETRY_S = 1.0  # while the database is away, presence is tried this often


class Presence:
    """Writes the gateway's row in gateway_presence every HEARTBEAT, and at once when what it says changes.
    Without an active, connected gateway heard lately, the API starts no session. The row carries the gateway's
    counters too, which /metrics reads from it: at most a heartbeat old."""

    def __init__(self, factory: sessionmaker[Session], client_id: str, counters: Counter[str] | None = None) -> None:
        self._factory = factory
        self._client_id = client_id
        self._counters: Counter[str] = counters if counters is not None else Counter()
        self._said: tuple[bool, str, list[dict[str, str]]] | None = None
        self._said_at = datetime.min.replace(tzinfo=UTC)
        self._retry_at = 0.0

    def say(self, *, connected: bool, health: dict[str, Any]) -> None:
        """Raises OperationalError while the database is away (then tries again at most once a second)."""
        said = (connected, health["role"], health["problems"])
        now = utcnow()
        if (said == self._said and now - self._said_at < HEARTBEAT) or time.monotonic() < self._retry_at:
            return
        try:
            with transaction(self._factory) as session:
                session.merge(
                    GatewayPresence(
                        client_id=self._client_id,
                        connected=connected,
                        role=said[1],
                        problems=said[2],
                        seen_at=now,
                        counters=dict(self._counters),  # one C-level copy: the other threads may be counting
                    )
                )
        except OperationalError:
            self._retry_at = time.monotonic() + PRESENCE_RETRY_S
            raise
        self._said, self._said_at = said, now


class HealthFile:
    """Replaces the file whole every time, so that the health check never reads half of it; a folder that is
    missing is made, and a file that cannot be written is said once, then once a minute."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._failing = Outage(logger, f"the health file {path}")

    def write(self, health: dict[str, Any]) -> None:
        partial = self.path.with_suffix(".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial.write_text(json.dumps(health | {"written_at": utcnow().isoformat()}))
            os.replace(partial, self.path)
        except OSError as error:
            self._failing.failed(error.strerror or type(error).__name__)
        else:
            self._failing.recovered()


class Every:
    """Whether a periodic task is due, by name."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}

    def due(self, name: str, every_s: float) -> bool:
        now = time.monotonic()
        if now - self._last.get(name, -every_s) < every_s:
            return False
        self._last[name] = now
        return True
